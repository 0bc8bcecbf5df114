//! Hazard: a hostile expression exhausting the thread stack (a crash, not an error).
//!
//! Everything that walks an expression must stay within a small stack for the deepest input
//! the parser accepts: 511 nested parentheses, each holding every precedence level (six tree
//! levels per parenthesis), 511 nested calls, and flat chains of thousands of terms. These run
//! on a thread with a quarter of the default 2 MiB stack, in debug builds, to leave headroom.
//! Parsing, compiling, dropping, cloning, comparing and printing are iterative; evaluation
//! recurses, but only down to beava's evaluator limit of 513 levels. `Debug` for `Expr` is
//! derived and recursive, and not covered here.

use expr::{compile, compile_where, parse};
use model::limits::EXPR_DEPTH_MAX;
use model::{Column, FieldType, RowSchema, Value};

const STACK_BYTES: usize = 512 * 1024;

fn on_small_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(test)
        .expect("spawn test thread")
        .join()
        .expect("test thread finished without overflowing its stack");
}

fn schema() -> RowSchema {
    RowSchema {
        columns: vec![
            Column {
                name: "a".into(),
                ty: Some(FieldType::I64),
                optional: true,
            },
            Column {
                name: "t".into(),
                ty: Some(FieldType::Bool),
                optional: true,
            },
        ],
    }
}

/// `(not t or t and 1 + 2 * (...) > 0)` nested `levels` deep: each parenthesis adds a not,
/// an or, an and, a comparison and two arithmetic chains to the tree.
fn every_level_nested(levels: usize) -> String {
    let mut src = String::from("a");
    for _ in 0..levels {
        src = format!("(not t or t and 1 + 2 * {src} > 0)");
    }
    src
}

#[test]
fn deepest_accepted_nesting() {
    on_small_stack(|| {
        let src = every_level_nested(EXPR_DEPTH_MAX - 1);
        let expr = parse(&src).expect("511 levels parse");
        let copy = expr.clone();
        assert!(copy == expr);
        assert!(parse(&expr.to_string()).expect("printed form parses") == expr);
        drop(copy);
        // Checked: type errors are found after walking to the bottom.
        let error = compile(&src, &schema()).expect_err("(2 * bool) is refused");
        assert!(error.message.contains("arithmetic"), "{}", error.message);
        let compiled = compile_where(&src, &schema()).expect("where accepts it");
        let row = [Value::I64(1), Value::Bool(true)];
        // `(not t or ...)` negates the whole group, and `t or ...` short-circuits.
        assert_eq!(compiled.eval(&row), Value::Bool(false));
        let _ = compiled.clone();
    });
}

#[test]
fn deepest_accepted_calls() {
    on_small_stack(|| {
        let levels = EXPR_DEPTH_MAX - 1;
        let src = format!("{}a{}", "isnull(".repeat(levels), ")".repeat(levels));
        let expr = parse(&src).expect("511 nested calls parse");
        assert!(expr.clone() == expr);
        let compiled = compile(&src, &schema()).expect("511 nested calls compile");
        // The innermost call is at evaluator depth 510: evaluated, not cut.
        assert_eq!(compiled.eval(&[]), Value::Bool(false));
    });
}

#[test]
fn too_deep_is_an_error() {
    on_small_stack(|| {
        let src = every_level_nested(20_000 / 25);
        let error = parse(&src).expect_err("too deep");
        assert!(error.message.contains("depth"), "{}", error.message);
    });
}

#[test]
fn long_flat_chains() {
    on_small_stack(|| {
        // Past beava's evaluator depth the leftmost terms are null: arithmetic is then null,
        // `null and true` is null, `null or true` is true.
        let cases = [
            (" + ", "a", Value::Null),
            (" * ", "a", Value::Null),
            (" and ", "t", Value::Null),
            (" or ", "t", Value::Bool(true)),
        ];
        for (op, term, expected) in cases {
            let src = format!("({})", vec![term; 10_000].join(op));
            let expr = parse(&src).expect("long chain parses");
            assert!(parse(&expr.to_string()).expect("reparses") == expr);
            let compiled = compile(&src, &schema()).expect("long chain compiles");
            assert_eq!(compiled.eval(&[Value::I64(1), Value::Bool(true)]), expected);
        }
    });
}
