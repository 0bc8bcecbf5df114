//! Derivation pipelines: the prefix ops (`filter`, `with_columns`/`map`, `select`, `drop`,
//! `rename`, `cast`, `fillna`) compiled to slot-addressed steps.
//!
//! `select`, `drop` and `rename` only change which names resolve to which slots, so they cost
//! nothing per event; only filters, assignments, casts and fills run.

use model::Value;

#[derive(Clone, Debug)]
pub enum Step {
    /// Keep the row only if the predicate is `true`.
    Filter(expr::Compiled),
    /// `with_columns`/`map`: write an expression's result into a slot.
    Assign { slot: usize, expr: expr::Compiled },
    Cast {
        slot: usize,
        target: expr::CastTarget,
    },
    /// `fillna`: replace a null with a default.
    FillNull { slot: usize, value: Value },
    /// Seed a rewrite slot with the value it shadows.
    Copy { source: usize, target: usize },
}

/// A compiled prefix chain. `width` is the number of slots its rows have (raw fields first).
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    pub steps: Vec<Step>,
    pub width: usize,
}

impl Pipeline {
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the chain over `raw` into `row` (reused buffer). Returns false if a filter dropped it.
    pub fn run(&self, raw: &[Value], row: &mut Vec<Value>) -> bool {
        row.clear();
        row.extend_from_slice(raw);
        row.resize(self.width.max(raw.len()), Value::Null);
        for step in &self.steps {
            match step {
                Step::Filter(predicate) => {
                    if !predicate.is_true(row) {
                        return false;
                    }
                }
                Step::Assign { slot, expr } => {
                    let value = expr.eval(row);
                    row[*slot] = value;
                }
                Step::Cast { slot, target } => {
                    let value = expr::cast_value(&row[*slot], *target);
                    row[*slot] = value;
                }
                Step::Copy { source, target } => {
                    let value = row[*source].clone();
                    row[*target] = value;
                }
                Step::FillNull { slot, value } => {
                    if row[*slot].is_null() {
                        row[*slot] = value.clone();
                    }
                }
            }
        }
        true
    }
}
