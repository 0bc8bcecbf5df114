//! Properties over generated input: parsing, compiling and evaluating never panic, whatever
//! the text or the row; the printed form of a parsed expression parses back to the same tree.

use expr::{compile, compile_where, parse, Expr};
use model::{Column, FieldType, RowSchema, Value};
use proptest::prelude::*;

fn schema() -> RowSchema {
    let column = |name: &str, ty: Option<FieldType>| Column {
        name: name.into(),
        ty,
        optional: true,
    };
    RowSchema {
        columns: vec![
            column("a", Some(FieldType::I64)),
            column("x", Some(FieldType::F64)),
            column("s", Some(FieldType::Str)),
            column("t", Some(FieldType::Bool)),
            column("j", Some(FieldType::Json)),
            column("w", None),
        ],
    }
}

/// Field names: mostly columns of `schema()`, sometimes unknown ones.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec!["a", "x", "s", "t", "j", "w"]).prop_map(String::from),
        1 => "[a-z_][a-z0-9_]{0,3}(\\.[a-z_][a-z0-9_]{0,2})?"
            .prop_filter("not a keyword", |name| {
                !["and", "or", "not", "true", "false", "null"].contains(&name.as_str())
            }),
    ]
}

fn string_literal() -> impl Strategy<Value = String> {
    "[a-z'\\\\ é]{0,6}".prop_map(|text| Expr::Str(text.as_str().into()).to_string())
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>()
            .prop_filter("i64::MIN has no literal", |value| *value != i64::MIN)
            .prop_map(|value| value.to_string()),
        (-3i64..100).prop_map(|value| value.to_string()),
        any::<f64>()
            .prop_filter("NaN has no literal", |value| !value.is_nan())
            .prop_map(|value| Expr::Float(value).to_string()),
        string_literal(),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(String::from),
    ]
}

fn binary_op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/",
    ])
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | "<" | "<=" | ">" | ">=")
}

/// Source text that follows the grammar: atoms at the top level and as call arguments,
/// operator chains inside parentheses.
fn valid_source() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![field_name(), literal()];
    leaf.prop_recursive(4, 48, 4, |atom| {
        let function = prop::sample::select(vec!["isnull", "cast", "quadkey", "foo"]);
        prop_oneof![
            (atom.clone(), binary_op(), atom.clone())
                .prop_map(|(lhs, op, rhs)| format!("({lhs} {op} {rhs})")),
            (
                atom.clone(),
                binary_op(),
                atom.clone(),
                binary_op(),
                atom.clone()
            )
                .prop_filter("comparisons do not chain", |(_, op1, _, op2, _)| {
                    !(is_comparison(op1) && is_comparison(op2))
                })
                .prop_map(|(a, op1, b, op2, c)| format!("({a} {op1} {b} {op2} {c})")),
            atom.clone().prop_map(|operand| format!("(not {operand})")),
            (atom.clone(), binary_op(), atom.clone())
                .prop_map(|(lhs, op, rhs)| format!("(not {lhs} {op} {rhs})")),
            (function, prop::collection::vec(atom.clone(), 0..4))
                .prop_map(|(name, args)| format!("{name}({})", args.join(", "))),
            (
                atom,
                prop::sample::select(vec!["str", "int", "float", "bool", "double"])
            )
                .prop_map(|(operand, target)| format!("cast({operand}, {target})")),
        ]
    })
}

/// Mostly-valid token soup, to reach the error paths of the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "(", ")", "(not", ",", "a", "t", "s", "zz", "1", "-", "2.5", "1.5e", "'x'", "'", "\\",
        "null", "true", "not", "and", "or", "+", "*", "/", "==", "!=", "=", "!", "<", ">=",
        "isnull(", "cast(", "quadkey(", "float", ".", "é", "\t",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.join(" "))
}

fn value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        (-5i64..5).prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        prop::sample::select(vec![f64::NAN, f64::INFINITY, -0.0, 0.5]).prop_map(Value::F64),
        "[a-z0-9.]{0,4}".prop_map(|text| Value::str(&text)),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3).prop_map(Value::List),
    ]
}

/// Rows of any length: shorter than the schema (missing slots read as null) or longer.
fn row() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(value(), 0..8)
}

fn exercise(src: &str, row: &[Value]) {
    for compiled in [compile(src, &schema()), compile_where(src, &schema())]
        .into_iter()
        .flatten()
    {
        let value = compiled.eval(row);
        assert_eq!(compiled.is_true(row), matches!(value, Value::Bool(true)));
        assert!(compiled
            .field_refs()
            .iter()
            .all(|slot| *slot < schema().columns.len()));
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,40}", row in row()) {
        let _ = parse(&src);
        exercise(&src, &row);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup(), row in row()) {
        let _ = parse(&src);
        exercise(&src, &row);
    }

    #[test]
    fn valid_source_parses_and_evaluates(src in valid_source(), row in row()) {
        let parsed = parse(&src);
        prop_assert!(parsed.is_ok(), "{src:?}: {parsed:?}");
        exercise(&src, &row);
    }

    #[test]
    fn printed_form_round_trips(src in valid_source()) {
        let expr = parse(&src).expect("generated source follows the grammar");
        let printed = expr.to_string();
        let reparsed = parse(&printed);
        prop_assert!(
            reparsed.as_ref().is_ok_and(|again| *again == expr),
            "{src:?} printed as {printed:?}: {reparsed:?}"
        );
        prop_assert_eq!(reparsed.expect("checked above").to_string(), printed);
        // Printing and cloning agree with equality.
        prop_assert!(expr.clone() == expr);
    }

    #[test]
    fn printed_form_evaluates_the_same(src in valid_source(), row in row()) {
        let printed = parse(&src).expect("generated source follows the grammar").to_string();
        let original = compile_where(&src, &schema());
        let reprinted = compile_where(&printed, &schema());
        match (original, reprinted) {
            (Ok(original), Ok(reprinted)) => {
                let (lhs, rhs) = (original.eval(&row), reprinted.eval(&row));
                // NaN != NaN; compare the rendering instead.
                prop_assert_eq!(format!("{lhs:?}"), format!("{rhs:?}"));
            }
            (Err(original), Err(reprinted)) => prop_assert_eq!(original.kind, reprinted.kind),
            (original, reprinted) => prop_assert!(false, "{original:?} vs {reprinted:?}"),
        }
    }
}
