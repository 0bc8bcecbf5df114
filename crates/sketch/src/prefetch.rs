//! Cache prefetch hints. Folding an event into an entity that is not in cache is a chain of
//! dependent misses (entity, its states, each state's heap); a caller that knows which entities
//! come next can start those loads early (`engine::engine::run_lane`). A hint never faults and
//! never changes what a program computes, whatever the address.

/// Cache lines hinted for one heap block at most: the head of an exact summary's sorted vector
/// and the lines a binary search over it visits first.
const LINES_MAX: usize = 4;
const LINE_BYTES: usize = 64;

/// Hints that the line holding `ptr` will be read soon.
///
/// The workspace's one `unsafe` block: `_mm_prefetch` is an `unsafe fn` for taking a raw
/// pointer, though a prefetch never dereferences it.
#[inline(always)]
#[allow(unsafe_code)]
pub fn line<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it does not dereference `ptr` architecturally and
    // cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Hints the first lines of `items` (up to [`LINES_MAX`], spread over it).
#[inline]
pub fn slice<T>(items: &[T]) {
    bytes(items.as_ptr().cast(), std::mem::size_of_val(items));
}

/// Hints the `len` bytes at `start` (up to [`LINES_MAX`] lines, spread over them).
#[inline]
fn bytes(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    let lines = len.div_ceil(LINE_BYTES);
    if lines <= LINES_MAX {
        for i in 0..lines {
            line(start.wrapping_add(i * LINE_BYTES));
        }
    } else {
        // Head, middle and tail: where a binary search or an append starts.
        for offset in [0, len / 2, len / 4, len - 1] {
            line(start.wrapping_add(offset));
        }
    }
}

/// Hints every line of the `len` bytes at `start`, up to `lines_max` lines (a block read
/// whole, like an entity's states).
#[inline]
pub fn block(start: *const u8, len: usize, lines_max: usize) {
    for i in 0..len.div_ceil(LINE_BYTES).min(lines_max) {
        line(start.wrapping_add(i * LINE_BYTES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_any_slice_length_without_touching_it() {
        for len in [0usize, 1, 7, 8, 9, 31, 32, 33, 1000, 100_000] {
            slice(&vec![0u64; len]);
        }
        slice::<()>(&[(); 5]);
        for (len, lines_max) in [(0usize, 4usize), (1, 0), (1000, 24), (usize::MAX, 3)] {
            block(std::ptr::null(), len, lines_max);
        }
        line(std::ptr::null::<u64>());
        line(usize::MAX as *const u8);
    }
}
