//! Table-driven semantics of the expression language, case by case as the beava 0.0.6 server
//! behaves.
//!
//! Every case below was run against the real server (`filter` / `with_columns` / agg `where`
//! over an event with the fields of `schema()`), except those marked `weir:` where beava has
//! no observable or sane answer. `check` compiles as `filter`/`with_columns` do, `check_where`
//! as an aggregation `where` does; both print the result value, or `error: <beava reason>`.
//!
//! Value rendering: `null`, `true`, `5` (i64), `5.0` / `NaN` / `inf` (f64, Rust `Debug`),
//! `'text'` (str), Rust `Debug` for lists and maps.

use expr::{compile, compile_where, Compiled, ExprError};
use model::{Column, FieldType, RowSchema, Value};

/// The event the oracle probes used, plus `w`, a column whose type is not statically known.
fn schema() -> RowSchema {
    let typed = [
        ("k", FieldType::Str),
        ("a", FieldType::I64),
        ("b", FieldType::I64),
        ("x", FieldType::F64),
        ("y", FieldType::F64),
        ("s", FieldType::Str),
        ("u", FieldType::Str),
        ("t", FieldType::Bool),
        ("f", FieldType::Bool),
        ("j", FieldType::Json),
        ("j2", FieldType::Json),
        ("dt", FieldType::Datetime),
        ("dt2", FieldType::Datetime),
        ("by", FieldType::Bytes),
        ("by2", FieldType::Bytes),
    ];
    let mut columns: Vec<Column> = typed
        .iter()
        .map(|(name, ty)| Column {
            name: (*name).into(),
            ty: Some(*ty),
            optional: true,
        })
        .collect();
    columns.push(Column {
        name: "w".into(),
        ty: None,
        optional: true,
    });
    RowSchema { columns }
}

fn json_to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Bool(*flag),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(int) => Value::I64(int),
            None => Value::F64(number.as_f64().expect("json numbers are finite")),
        },
        serde_json::Value::String(text) => Value::str(text),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        serde_json::Value::Object(members) => Value::Map(
            members
                .iter()
                .map(|(key, value)| (key.as_str().into(), json_to_value(value)))
                .collect(),
        ),
    }
}

/// A row of `schema()` from a JSON object; absent fields are null.
fn row(json: &str) -> Vec<Value> {
    let parsed: serde_json::Value = serde_json::from_str(json).expect("test row is JSON");
    let object = parsed.as_object().expect("test row is a JSON object");
    schema()
        .columns
        .iter()
        .map(|column| {
            object
                .get(column.name.as_str())
                .map_or(Value::Null, json_to_value)
        })
        .collect()
}

fn render(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::I64(int) => int.to_string(),
        Value::F64(float) => format!("{float:?}"),
        Value::Str(text) => format!("'{text}'"),
        other => format!("{other:?}"),
    }
}

fn run(
    compiled: Result<Compiled, ExprError>,
    reason: fn(&ExprError) -> String,
    row_json: &str,
) -> String {
    match compiled {
        Ok(compiled) => {
            let row = row(row_json);
            let value = compiled.eval(&row);
            assert_eq!(
                compiled.is_true(&row),
                matches!(value, Value::Bool(true)),
                "is_true agrees with eval"
            );
            render(&value)
        }
        Err(error) => format!("error: {}", reason(&error)),
    }
}

/// Compiles `src` as a `filter` / `with_columns` expression and evaluates it on `row_json`.
fn check(src: &str, row_json: &str, expected: &str) {
    let actual = run(compile(src, &schema()), |e| e.message.clone(), row_json);
    assert_eq!(
        actual,
        expected,
        "expression {} on {row_json}",
        abbreviate(src)
    );
}

/// Compiles `src` as an aggregation `where` predicate and evaluates it on `row_json`.
fn check_where(src: &str, row_json: &str, expected: &str) {
    let actual = run(
        compile_where(src, &schema()),
        ExprError::where_reason,
        row_json,
    );
    assert_eq!(actual, expected, "where {} on {row_json}", abbreviate(src));
}

/// Keeps failure messages readable for the generated, very long expressions.
fn abbreviate(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() <= 120 {
        return format!("{src:?}");
    }
    let head: String = chars[..60].iter().collect();
    let tail: String = chars[chars.len() - 60..].iter().collect();
    format!("{head:?} .. {tail:?} ({} chars)", chars.len())
}

#[test]
fn literals_and_top_level_atoms() {
    check("a", r#"{"a":5}"#, "5");
    check("5", "{}", "5");
    check("'x'", "{}", "'x'");
    check("true", "{}", "true");
    check("false", "{}", "false");
    check("null", "{}", "null");
    check("-5", "{}", "-5");
    check("-5.5", "{}", "-5.5");
    check("- 5", "{}", "-5");
    check("- 1.5", "{}", "-1.5");
    check("-1.5e3", "{}", "-1500.0");
    check("1.5", "{}", "1.5");
    check("1.50", "{}", "1.5");
    check("1.5e3", "{}", "1500.0");
    check("1.5E+3", "{}", "1500.0");
    check("1.5e-3", "{}", "0.0015");
    check("01", "{}", "1");
    check("007", "{}", "7");
    check("9223372036854775807", "{}", "9223372036854775807");
    check("(1.0e999 > 1.0e308)", "{}", "true");
    check("' a b '", "{}", "' a b '");
    check("''", "{}", "''");
    check(r"'a\'b'", "{}", "'a'b'");
    check(r"'a\\b'", "{}", r"'a\b'");
    check(r"'a\\'", "{}", r"'a\'");
    // Other escapes stay literal.
    check(r"'a\nb'", "{}", r"'a\nb'");
    check(r"'a\tb'", "{}", r"'a\tb'");
    check("'a\nb'", "{}", "'a\nb'");
    check("'é'", "{}", "'é'");
    check("(a)", r#"{"a":5}"#, "5");
    check("((a))", r#"{"a":5}"#, "5");
    check("(true)", "{}", "true");
    check("isnull (a)", r#"{"a":5}"#, "false");
}

#[test]
fn whitespace() {
    check(" a ", r#"{"a":5}"#, "5");
    check("(a+1)", r#"{"a":5}"#, "6");
    check("( a + 1 )", r#"{"a":5}"#, "6");
    check("(a\t+\t1)", r#"{"a":5}"#, "6");
    check("(a\n+1)", r#"{"a":5}"#, "6");
    check("(a\r+1)", r#"{"a":5}"#, "6");
    check("(a>=1)", r#"{"a":5}"#, "true");
    check(
        "(a\x0c+ 1)",
        "{}",
        "error: col 3: col 3: unknown character '\x0c'",
    );
    check(
        "(a\x0b+ 1)",
        "{}",
        "error: col 3: col 3: unknown character '\x0b'",
    );
    // Non-ASCII is reported byte by byte, read as Latin-1.
    check(
        "(a\u{a0}+ 1)",
        "{}",
        "error: col 3: col 3: unknown character 'Â'",
    );
}

#[test]
fn precedence_and_grouping() {
    check("(1 + 2 * 3)", "{}", "7");
    check("(2 * 3 + 1)", "{}", "7");
    check("((1 + 2) * 3)", "{}", "9");
    check("(10 - 2 - 3)", "{}", "5");
    check("(100 / 10 / 5)", "{}", "2");
    check("(2 * 3 * 4 / 5)", "{}", "4");
    check("(1 + 2 + 3 + 4)", "{}", "10");
    check("(a -5)", r#"{"a":10}"#, "5");
    check("(a-5)", r#"{"a":10}"#, "5");
    check("(5 - -3)", "{}", "8");
    check("(5--3)", "{}", "8");
    check("(5 - - 3)", "{}", "8");
    check("(-5 + 1)", "{}", "-4");
    check("(a*-5)", r#"{"a":2}"#, "-10");
    check("(a<-5)", r#"{"a":-7}"#, "true");
    check("(a == -5)", r#"{"a":-5}"#, "true");
    check("isnull(-5)", "{}", "false");
    // Inside parentheses the whole Or/And/Cmp grammar applies.
    check("(a > 1 and b < 2)", r#"{"a":5,"b":1}"#, "true");
    check("((a > 1) and (b < 2))", r#"{"a":5,"b":1}"#, "true");
    check("(t or f and f)", r#"{"t":true,"f":false}"#, "true");
    check("(f and f or t)", r#"{"t":true,"f":false}"#, "true");
    // `(not E)` negates the whole parenthesised expression.
    check("(not t)", r#"{"t":true}"#, "false");
    check("(not t and f)", r#"{"t":true,"f":false}"#, "true");
    check("(f and (not t))", r#"{"t":true,"f":false}"#, "false");
    check("((not t))", r#"{"t":true}"#, "false");
    check("(not (not t))", r#"{"t":true}"#, "true");
    check("(not(t))", r#"{"t":true}"#, "false");
    check("(t and(f))", r#"{"t":true,"f":false}"#, "false");
}

#[test]
fn arithmetic() {
    check("(a + 1)", r#"{"a":5}"#, "6");
    check("(a + 1)", "{}", "null");
    check("(0 - a)", r#"{"a":5}"#, "-5");
    check("(7 / 2)", "{}", "3");
    check("(-7 / 2)", "{}", "-3");
    check("(7 / -2)", "{}", "-3");
    check("(7.0 / 2)", "{}", "3.5");
    check("(7 / 0)", "{}", "null");
    check("(0 / 0)", "{}", "null");
    check("(7.0 / 0)", "{}", "inf");
    check("((7.0 / 0) > 1.0e308)", "{}", "true");
    check("((-7.0 / 0) < -1.0e308)", "{}", "true");
    check("(0.0 / 0)", "{}", "NaN");
    check("(9223372036854775807 + 1)", "{}", "9223372036854775807");
    check("(-9223372036854775807 - 10)", "{}", "-9223372036854775808");
    check("(9223372036854775807 * 2)", "{}", "9223372036854775807");
    check("(9223372036854775807 * -2)", "{}", "-9223372036854775808");
    check(
        "((-9223372036854775807 - 1) * -1)",
        "{}",
        "9223372036854775807",
    );
    // weir: beava's apply thread panics on i64::MIN / -1; we saturate.
    check(
        "((-9223372036854775807 - 1) / -1)",
        "{}",
        "9223372036854775807",
    );
    check("(1.5 + 1)", "{}", "2.5");
    check("(0.1 + 0.2)", "{}", "0.30000000000000004");
    check("(1.0e308 * 10.0)", "{}", "inf");
    check("(1 - 2.5)", "{}", "-1.5");
    check("(3 * 1.5)", "{}", "4.5");
    check("(0.0 * -1.0)", "{}", "-0.0");
    check("(x + a)", r#"{"x":5.5,"a":5}"#, "10.5");
    check("(null + 1)", "{}", "null");
    check("(1 + null)", "{}", "null");
    check("(null + t)", "{}", "null");
    check("(a + (a + (a + 1)))", r#"{"a":1}"#, "4");
    // Untyped columns pass the check; non-numbers give null at runtime.
    check("(w + 1)", r#"{"w":"x"}"#, "null");
    check("(w + 1)", r#"{"w":2}"#, "3");
    check_where("isnull((a + s))", r#"{"a":1,"s":"x"}"#, "true");
    check_where("(('a' + 'b') == null)", "{}", "true");
    check_where("isnull((true + 1))", "{}", "true");
    check_where("(j + 1)", r#"{"j":2.5}"#, "3.5");
}

#[test]
fn comparisons() {
    check("(2 > 1)", "{}", "true");
    check("(2 >= 2)", "{}", "true");
    check("(2 <= 1)", "{}", "false");
    check("(2 < 1)", "{}", "false");
    check("(2 == 2)", "{}", "true");
    check("(2 != 2)", "{}", "false");
    check("(2.5 > 2)", "{}", "true");
    check("(2 > 2.5)", "{}", "false");
    check("(x > a)", r#"{"x":5.5,"a":5}"#, "true");
    check("(x == a)", r#"{"x":5.0,"a":5}"#, "true");
    check("(1 == 1.0)", "{}", "true");
    check("(1 != 1.0)", "{}", "false");
    // Mixed i64/f64 compare through f64.
    check("(9007199254740993 == 9007199254740992.0)", "{}", "true");
    check("(9007199254740993 > 9007199254740992.0)", "{}", "false");
    check("(9007199254740993 == 9007199254740993)", "{}", "true");
    check("('b' > 'a')", "{}", "true");
    check("('B' > 'a')", "{}", "false");
    check("('ab' < 'b')", "{}", "true");
    check("('é' > 'z')", "{}", "true");
    check("('' < 'a')", "{}", "true");
    check("('a' == 'a')", "{}", "true");
    check("(s == 'x')", r#"{"s":"x"}"#, "true");
    check("(s < u)", r#"{"s":"a","u":"b"}"#, "true");
    check("(true > false)", "{}", "true");
    check("(true == true)", "{}", "true");
    check("(true != false)", "{}", "true");
    check("(t > f)", r#"{"t":true,"f":false}"#, "true");
    // NaN makes every comparison false, `!=` included.
    check("((0.0 / 0) == (0.0 / 0))", "{}", "false");
    check("((0.0 / 0) != (0.0 / 0))", "{}", "false");
    check("((0.0 / 0) > 1)", "{}", "false");
    check("((0.0 / 0) < 1)", "{}", "false");
    check("((0.0 / 0) >= (0.0 / 0))", "{}", "false");
    // A null operand (other than the rewritten `== null` forms) gives null.
    check("(null > 1)", "{}", "null");
    check("(1 > null)", "{}", "null");
    check("(a > null)", r#"{"a":1}"#, "null");
    check("(x < a)", "{}", "null");
    check("(s == 'x')", "{}", "null");
    check("(t == t)", "{}", "null");
    // Values of datetime / bytes / json fields compare by their runtime kind.
    check("(dt > dt2)", r#"{"dt":5,"dt2":3}"#, "true");
    check(
        "(dt > dt2)",
        r#"{"dt":"2024-01-01","dt2":"2023-01-01"}"#,
        "true",
    );
    check("(dt > dt2)", r#"{"dt":5.5,"dt2":3}"#, "true");
    check("(dt > dt2)", r#"{"dt":"a","dt2":3}"#, "null");
    check("(by > by2)", r#"{"by":"abd","by2":"abc"}"#, "true");
    check("(by > by2)", r#"{"by":[1,2],"by2":[1,1]}"#, "null");
    check("(j == j2)", r#"{"j":1,"j2":1.0}"#, "true");
    check("(j == j2)", r#"{"j":"x","j2":"x"}"#, "true");
    check("(j == j2)", r#"{"j":true,"j2":true}"#, "true");
    check("(j > j2)", r#"{"j":2,"j2":1}"#, "true");
    check("(j > j2)", r#"{"j":"b","j2":"a"}"#, "true");
    // Lists and maps never compare, not even for equality.
    check("(j == j2)", r#"{"j":[1,2],"j2":[1,2]}"#, "null");
    check("(j == j2)", r#"{"j":{"a":1},"j2":{"a":1}}"#, "null");
    // Cross-type at runtime (only reachable unchecked) is null.
    check_where("isnull((1 == 'a'))", "{}", "true");
    check_where("isnull((true > 1))", "{}", "true");
    check_where("isnull(('1' == 1))", "{}", "true");
    check_where("isnull((j > 1))", r#"{"j":[1]}"#, "true");
}

#[test]
fn null_comparison_rewrites() {
    check("(a == null)", "{}", "true");
    check("(a == null)", r#"{"a":1}"#, "false");
    check("(null == a)", "{}", "true");
    check("(a != null)", "{}", "false");
    check("(null != a)", "{}", "false");
    check("(1 != null)", "{}", "true");
    check("(null == 1)", "{}", "false");
    check("(null == null)", "{}", "true");
    check("(null != null)", "{}", "false");
    check("((a + 1) == null)", "{}", "true");
    check("((a == null) and t)", r#"{"t":true}"#, "true");
    // Parentheses create no node, so the rewrite sees through them.
    check("(a == (null))", r#"{"a":1}"#, "false");
    check("((null) == a)", r#"{"a":1}"#, "false");
    // The rewrite comes before typing: json vs null is fine.
    check("(j == null)", "{}", "true");
    check_where("(foo(a) == null)", r#"{"a":5}"#, "true");
}

#[test]
fn three_valued_logic() {
    let and_table = [
        ("true", "true", "true"),
        ("true", "false", "false"),
        ("true", "null", "null"),
        ("false", "true", "false"),
        ("false", "false", "false"),
        ("false", "null", "false"),
        ("null", "true", "null"),
        ("null", "false", "false"),
        ("null", "null", "null"),
    ];
    for (lhs, rhs, expected) in and_table {
        check(&format!("({lhs} and {rhs})"), "{}", expected);
    }
    let or_table = [
        ("true", "true", "true"),
        ("true", "false", "true"),
        ("true", "null", "true"),
        ("false", "true", "true"),
        ("false", "false", "false"),
        ("false", "null", "null"),
        ("null", "true", "true"),
        ("null", "false", "null"),
        ("null", "null", "null"),
    ];
    for (lhs, rhs, expected) in or_table {
        check(&format!("({lhs} or {rhs})"), "{}", expected);
    }
    check("(not true)", "{}", "false");
    check("(not false)", "{}", "true");
    check("(not null)", "{}", "null");
    // Absent bool fields are null.
    check("(t and f)", r#"{"f":false}"#, "false");
    check("(t or f)", r#"{"t":true}"#, "true");
    // Non-bool operands (unchecked only): a non-bool left side is null before any
    // short-circuit, a non-bool right side counts as null.
    check_where("isnull((true and 1))", "{}", "true");
    check_where("isnull((1 and true))", "{}", "true");
    check_where("isnull((1 and false))", "{}", "true");
    check_where("(false and 1)", "{}", "false");
    check_where("(true or 1)", "{}", "true");
    check_where("isnull((1 or true))", "{}", "true");
    check_where("isnull((false or 1))", "{}", "true");
    check_where("(null and 1)", "{}", "null");
    check_where("isnull((not 1))", "{}", "true");
    check_where("isnull((not 'x'))", "{}", "true");
    // Chains read left to right.
    check("(t and t and f)", r#"{"t":true,"f":false}"#, "false");
    check("(f or f or t)", r#"{"t":true,"f":false}"#, "true");
    check("(null and true and false)", "{}", "false");
    check("(null or false or true)", "{}", "true");
}

#[test]
fn field_references() {
    check("k", r#"{"k":"key1"}"#, "'key1'");
    check("a", "{}", "null");
    check("j", r#"{"j":{"a":1}}"#, r#"Map([("a", I64(1))])"#);
    check("j", r#"{"j":[1,"a"]}"#, r#"List([I64(1), Str("a")])"#);
    check(
        "dt",
        r#"{"dt":"2024-01-01T00:00:00Z"}"#,
        "'2024-01-01T00:00:00Z'",
    );
    // Dotted names are plain names, not paths.
    check(
        "j.a",
        r#"{"j":{"a":1}}"#,
        "error: field 'j.a' not found in upstream schema",
    );
    check(
        "a.b.c",
        "{}",
        "error: field 'a.b.c' not found in upstream schema",
    );
    check(
        "(a.b > 1)",
        "{}",
        "error: field 'a.b' not found in upstream schema",
    );
    check("zz", "{}", "error: field 'zz' not found in upstream schema");
    check(
        "(zz > 1)",
        "{}",
        "error: field 'zz' not found in upstream schema",
    );
    check("_x", "{}", "error: field '_x' not found in upstream schema");
    check(
        "TRUE",
        "{}",
        "error: field 'TRUE' not found in upstream schema",
    );
    check(
        "True",
        "{}",
        "error: field 'True' not found in upstream schema",
    );
    check(
        "NULL",
        "{}",
        "error: field 'NULL' not found in upstream schema",
    );
    check(
        "nullx",
        "{}",
        "error: field 'nullx' not found in upstream schema",
    );
    check(
        "isnull",
        "{}",
        "error: field 'isnull' not found in upstream schema",
    );
    check(
        "isnull(zz)",
        "{}",
        "error: field 'zz' not found in upstream schema",
    );
    // Fields resolve before functions are checked.
    check(
        "foo(zz)",
        "{}",
        "error: field 'zz' not found in upstream schema",
    );
    // The cast rewrite only applies to exactly two arguments.
    check(
        "cast(a, float, 1)",
        "{}",
        "error: field 'float' not found in upstream schema",
    );
    check_where(
        "(zz > 1)",
        "{}",
        "error: where predicate references unknown field 'zz'",
    );
}

#[test]
fn builtins_checked() {
    check("isnull(a)", r#"{"a":5}"#, "false");
    check("isnull(a)", "{}", "true");
    check("isnull(null)", "{}", "true");
    check("isnull((a + 1))", r#"{"a":5}"#, "false");
    check("isnull((not t))", "{}", "true");
    check("isnull(j)", r#"{"j":[]}"#, "false");
    check("cast(a, 'float')", r#"{"a":5}"#, "5.0");
    check(
        "isnull()",
        "{}",
        "error: function \"isnull\" expects 1 argument(s), got 0",
    );
    check(
        "isnull(a, b)",
        "{}",
        "error: function \"isnull\" expects 1 argument(s), got 2",
    );
    check(
        "isnull((a + s), 1)",
        "{}",
        "error: function \"isnull\" expects 1 argument(s), got 2",
    );
    check(
        "cast(a)",
        "{}",
        "error: function \"cast\" expects 2 argument(s), got 1",
    );
    check(
        "cast(a, s, (a + s))",
        "{}",
        "error: function \"cast\" expects 2 argument(s), got 3",
    );
    let unknown_foo =
        "error: unknown function \"foo\"; only 'cast' and 'isnull' are supported in Phase 4";
    check("foo(a)", "{}", unknown_foo);
    check("foo()", "{}", unknown_foo);
    check("foo((a + s))", "{}", unknown_foo);
    check(
        "ISNULL(a)",
        "{}",
        "error: unknown function \"ISNULL\"; only 'cast' and 'isnull' are supported in Phase 4",
    );
    check(
        "quadkey(1)",
        "{}",
        "error: function \"quadkey\" expects 3 argument(s), got 1",
    );
    check(
        "quadkey(x, y, 10)",
        "{}",
        "error: unhandled builtin \"quadkey\"",
    );
    check(
        "quadkey((a + s), 1, 2)",
        "{}",
        "error: unhandled builtin \"quadkey\"",
    );
    let unknown_target = |name: &str| {
        format!("error: unknown cast target type \"{name}\"; must be one of: str, int, float, bool")
    };
    for name in [
        "double", "FLOAT", "i64", "f64", "string", "integer", "boolean", "a", "zz", "s", "x.y",
    ] {
        check(&format!("cast(a, {name})"), "{}", &unknown_target(name));
    }
    check("cast(a, 'double')", "{}", &unknown_target("double"));
    // The argument is checked before the target.
    check(
        "cast((a + s), zz)",
        "{}",
        "error: arithmetic operator \"+\" requires numeric operands, got Known(I64) and Known(Str)",
    );
    // beava prints its AST's `Debug` (with spans) here; weir prints the canonical form.
    check(
        "cast(a, 1)",
        "{}",
        "error: cast second argument must be a type literal (str/int/float/bool), got 1",
    );
    check(
        "cast(a, (a + 1))",
        "{}",
        "error: cast second argument must be a type literal (str/int/float/bool), got (a + 1)",
    );
}

#[test]
fn builtins_unchecked() {
    // In `where`, unknown functions and misused builtins are null instead of errors.
    check_where("foo(a)", r#"{"a":5}"#, "null");
    check_where("isnull(foo(a))", r#"{"a":5}"#, "true");
    check_where("isnull()", "{}", "null");
    check_where("isnull(1, 2)", "{}", "null");
    check_where("cast(1)", "{}", "null");
    check_where("isnull(cast(1, 2))", "{}", "true");
    check_where("isnull(cast(a, double))", r#"{"a":5}"#, "true");
    check_where("cast(a, float)", r#"{"a":5}"#, "5.0");
    check_where("isnull(quadkey(1.0, 2.0))", "{}", "true");
    check_where("isnull(quadkey(1.0, 2.0, 3, 4))", "{}", "true");
    check_where("(cast(s, bool) and t)", r#"{"s":"true","t":true}"#, "true");
}

#[test]
fn static_type_errors() {
    let arith = |l: &str, r: &str| {
        format!("error: arithmetic operator \"+\" requires numeric operands, got {l} and {r}")
    };
    check("(a + s)", "{}", &arith("Known(I64)", "Known(Str)"));
    check("(s + u)", "{}", &arith("Known(Str)", "Known(Str)"));
    check("(t + 1)", "{}", &arith("Known(Bool)", "Known(I64)"));
    check("('x' + 1)", "{}", &arith("Known(Str)", "Known(I64)"));
    check("(1 + 'x')", "{}", &arith("Known(I64)", "Known(Str)"));
    check("(j + 1)", "{}", &arith("Known(Json)", "Known(I64)"));
    check("(a + true)", "{}", &arith("Known(I64)", "Known(Bool)"));
    // Result types, shown through a failing `+ t`.
    check(
        "((null + 1) + t)",
        "{}",
        &arith("Known(I64)", "Known(Bool)"),
    );
    check(
        "((1 + null) + t)",
        "{}",
        &arith("Known(I64)", "Known(Bool)"),
    );
    check(
        "((null + x) + t)",
        "{}",
        &arith("Known(F64)", "Known(Bool)"),
    );
    check(
        "((null * x) + t)",
        "{}",
        &arith("Known(F64)", "Known(Bool)"),
    );
    check(
        "((null / x) + t)",
        "{}",
        &arith("Known(F64)", "Known(Bool)"),
    );
    check("((a + x) + t)", "{}", &arith("Known(F64)", "Known(Bool)"));
    check("((a * x) + t)", "{}", &arith("Known(F64)", "Known(Bool)"));
    check("((a / b) + t)", "{}", &arith("Known(I64)", "Known(Bool)"));
    check("((x / 0) + t)", "{}", &arith("Known(F64)", "Known(Bool)"));
    check("((a > b) + t)", "{}", &arith("Known(Bool)", "Known(Bool)"));
    check(
        "(isnull(a) + t)",
        "{}",
        &arith("Known(Bool)", "Known(Bool)"),
    );
    check(
        "(cast(a, str) + t)",
        "{}",
        &arith("Known(Str)", "Known(Bool)"),
    );
    check(
        "(cast(a, int) + t)",
        "{}",
        &arith("Known(I64)", "Known(Bool)"),
    );
    check(
        "(cast(a, float) + t)",
        "{}",
        &arith("Known(F64)", "Known(Bool)"),
    );
    check(
        "(cast(a, bool) + t)",
        "{}",
        &arith("Known(Bool)", "Known(Bool)"),
    );
    check(
        "(cast(null, int) + t)",
        "{}",
        &arith("Known(I64)", "Known(Bool)"),
    );
    check("((not t) + t)", "{}", &arith("Known(Bool)", "Known(Bool)"));
    check(
        "((t and f) + t)",
        "{}",
        &arith("Known(Bool)", "Known(Bool)"),
    );
    check(
        "((null and null) + t)",
        "{}",
        &arith("Known(Bool)", "Known(Bool)"),
    );
    check(
        "((null > 1) + t)",
        "{}",
        &arith("Known(Bool)", "Known(Bool)"),
    );
    check(
        "((not null) + x)",
        "{}",
        &arith("Known(Bool)", "Known(F64)"),
    );
    check(
        "((null + t) + s)",
        "{}",
        &arith("Known(Bool)", "Known(Str)"),
    );
    check(
        "((null + s) + t)",
        "{}",
        &arith("Known(Str)", "Known(Bool)"),
    );
    check("(dt + t)", "{}", &arith("Known(Datetime)", "Known(Bool)"));
    check("(by + t)", "{}", &arith("Known(Bytes)", "Known(Bool)"));
    check(
        "((dt + 1) + t)",
        "{}",
        &arith("Known(Datetime)", "Known(I64)"),
    );
    check("((null + null) + t)", "{}", "null");
    // Chains are checked left to right through the accumulated type.
    check("(a + b + s)", "{}", &arith("Known(I64)", "Known(Str)"));
    check(
        "(a - s)",
        "{}",
        "error: arithmetic operator \"-\" requires numeric operands, got Known(I64) and Known(Str)",
    );

    let cmp = |op: &str, l: &str, r: &str| {
        format!("error: comparison operator \"{op}\" requires comparable operands, got {l} and {r}")
    };
    check("(s > 1)", "{}", &cmp(">", "Known(Str)", "Known(I64)"));
    check("(s == 1)", "{}", &cmp("==", "Known(Str)", "Known(I64)"));
    check("(s == a)", "{}", &cmp("==", "Known(Str)", "Known(I64)"));
    check("(t == 1)", "{}", &cmp("==", "Known(Bool)", "Known(I64)"));
    check("(j == 5)", "{}", &cmp("==", "Known(Json)", "Known(I64)"));
    check("(1 == 'a')", "{}", &cmp("==", "Known(I64)", "Known(Str)"));
    check("(dt > 1)", "{}", &cmp(">", "Known(Datetime)", "Known(I64)"));
    check(
        "(dt == a)",
        "{}",
        &cmp("==", "Known(Datetime)", "Known(I64)"),
    );
    check("(dt > x)", "{}", &cmp(">", "Known(Datetime)", "Known(F64)"));
    check("(by == s)", "{}", &cmp("==", "Known(Bytes)", "Known(Str)"));
    check(
        "(dt == by)",
        "{}",
        &cmp("==", "Known(Datetime)", "Known(Bytes)"),
    );
    check("(dt > dt2)", "{}", "null");
    check("(by > by2)", "{}", "null");
    check("(j == j2)", "{}", "null");
    check("(j > j2)", "{}", "null");

    let logic = |op: &str, l: &str, r: &str| {
        format!("error: boolean operator \"{op}\" requires Bool operands, got {l} and {r}")
    };
    check(
        "(a and t)",
        "{}",
        &logic("and", "Known(I64)", "Known(Bool)"),
    );
    check(
        "(t and a)",
        "{}",
        &logic("and", "Known(Bool)", "Known(I64)"),
    );
    check(
        "(a and null)",
        "{}",
        &logic("and", "Known(I64)", "NullLiteral"),
    );
    check(
        "(null and a)",
        "{}",
        &logic("and", "NullLiteral", "Known(I64)"),
    );
    check(
        "(null or s)",
        "{}",
        &logic("or", "NullLiteral", "Known(Str)"),
    );
    check(
        "(t and t and a)",
        "{}",
        &logic("and", "Known(Bool)", "Known(I64)"),
    );
    check(
        "(not a)",
        "{}",
        "error: 'not' operator requires Bool operand, got Known(I64)",
    );
    // Untyped columns behave like null in the check.
    check("(w and a)", "{}", &logic("and", "Unknown", "Known(I64)"));
    check("(w > 's')", r#"{"w":"t"}"#, "true");

    // Checked left to right, children first, a call's name and arity before its arguments.
    check(
        "((a + s) and foo(1))",
        "{}",
        &arith("Known(I64)", "Known(Str)"),
    );
    check(
        "(foo(1) and (a + s))",
        "{}",
        "error: unknown function \"foo\"; only 'cast' and 'isnull' are supported in Phase 4",
    );
    check(
        "(isnull() and (a + s))",
        "{}",
        "error: function \"isnull\" expects 1 argument(s), got 0",
    );
    check(
        "((a + s) and isnull())",
        "{}",
        &arith("Known(I64)", "Known(Str)"),
    );
    check(
        "cast((a + s), int)",
        "{}",
        &arith("Known(I64)", "Known(Str)"),
    );

    // `where` skips the check entirely.
    check_where("(a + s)", r#"{"a":5,"s":"x"}"#, "null");
    check_where("(a and t)", r#"{"a":5,"t":true}"#, "null");
}

#[test]
fn filter_truthiness() {
    // A filter keeps a row only on exactly `true`; non-bool filters are accepted.
    let is_true = |src: &str, row_json: &str| {
        compile(src, &schema())
            .expect("compiles")
            .is_true(&row(row_json))
    };
    assert!(is_true("t", r#"{"t":true}"#));
    assert!(!is_true("a", r#"{"a":5}"#));
    assert!(!is_true("(a + 1)", r#"{"a":5}"#));
    assert!(!is_true("s", r#"{"s":"x"}"#));
    assert!(!is_true("null", "{}"));
    assert!(!is_true("1", "{}"));
    assert!(is_true("isnull(a)", "{}"));
    assert!(is_true("cast(a, bool)", r#"{"a":1}"#));
    assert!(is_true("cast(s, bool)", r#"{"s":"true"}"#));
}

#[test]
fn cast_matrix() {
    let cases = [
        ("cast(s, int)", r#"{"s":"12"}"#, "12"),
        ("cast(s, int)", r#"{"s":" 12"}"#, "null"),
        ("cast(s, int)", r#"{"s":"12 "}"#, "null"),
        ("cast(s, int)", r#"{"s":"1.5"}"#, "null"),
        ("cast(s, int)", r#"{"s":"abc"}"#, "null"),
        ("cast(s, int)", r#"{"s":"-3"}"#, "-3"),
        ("cast(s, int)", r#"{"s":"+3"}"#, "3"),
        ("cast(s, int)", r#"{"s":"1e3"}"#, "null"),
        ("cast(s, int)", r#"{"s":""}"#, "null"),
        ("cast(s, int)", r#"{"s":"9223372036854775808"}"#, "null"),
        ("cast(s, int)", r#"{"s":"007"}"#, "7"),
        ("cast(s, float)", r#"{"s":"1.5"}"#, "1.5"),
        ("cast(s, float)", r#"{"s":"12"}"#, "12.0"),
        ("cast(s, float)", r#"{"s":"1e3"}"#, "1000.0"),
        ("cast(s, float)", r#"{"s":"inf"}"#, "inf"),
        ("cast(s, float)", r#"{"s":"infinity"}"#, "inf"),
        ("cast(s, float)", r#"{"s":"Infinity"}"#, "inf"),
        ("cast(s, float)", r#"{"s":"NaN"}"#, "NaN"),
        ("cast(s, float)", r#"{"s":"nan"}"#, "NaN"),
        ("cast(s, float)", r#"{"s":"-0"}"#, "-0.0"),
        ("cast(s, float)", r#"{"s":" 1.5"}"#, "null"),
        ("cast(s, float)", r#"{"s":".5"}"#, "0.5"),
        ("cast(s, float)", r#"{"s":"5."}"#, "5.0"),
        ("cast(s, float)", r#"{"s":"+5"}"#, "5.0"),
        ("cast(s, float)", r#"{"s":"1_0"}"#, "null"),
        ("cast(s, float)", r#"{"s":"abc"}"#, "null"),
        ("cast(s, bool)", r#"{"s":"true"}"#, "true"),
        ("cast(s, bool)", r#"{"s":"false"}"#, "false"),
        ("cast(s, bool)", r#"{"s":"True"}"#, "null"),
        ("cast(s, bool)", r#"{"s":"TRUE"}"#, "null"),
        ("cast(s, bool)", r#"{"s":"1"}"#, "null"),
        ("cast(s, bool)", r#"{"s":"0"}"#, "null"),
        ("cast(s, bool)", r#"{"s":""}"#, "null"),
        ("cast(s, str)", r#"{"s":"x"}"#, "'x'"),
        ("cast(a, str)", r#"{"a":5}"#, "'5'"),
        ("cast(a, str)", r#"{"a":-5}"#, "'-5'"),
        ("cast(x, str)", r#"{"x":1.0}"#, "'1'"),
        ("cast(x, str)", r#"{"x":1.5}"#, "'1.5'"),
        ("cast(x, str)", r#"{"x":1e21}"#, "'1000000000000000000000'"),
        ("cast(x, str)", r#"{"x":1e-7}"#, "'0.0000001'"),
        ("cast(x, str)", r#"{"x":0.1}"#, "'0.1'"),
        (
            "cast(x, str)",
            r#"{"x":1.2345678901234568e20}"#,
            "'123456789012345680000'",
        ),
        ("cast(-0.0, str)", "{}", "'-0'"),
        ("cast((0.0 / 0), str)", "{}", "'NaN'"),
        ("cast((1.0 / 0), str)", "{}", "'inf'"),
        ("cast((-1.0 / 0), str)", "{}", "'-inf'"),
        ("cast((0.1 + 0.2), str)", "{}", "'0.30000000000000004'"),
        ("cast(t, str)", r#"{"t":true}"#, "'true'"),
        ("cast(t, str)", r#"{"t":false}"#, "'false'"),
        ("cast(a, float)", r#"{"a":5}"#, "5.0"),
        ("cast(x, float)", r#"{"x":5.5}"#, "5.5"),
        ("cast(t, float)", r#"{"t":true}"#, "1.0"),
        ("cast(t, float)", r#"{"t":false}"#, "0.0"),
        ("cast(x, int)", r#"{"x":1.9}"#, "1"),
        ("cast(x, int)", r#"{"x":-1.9}"#, "-1"),
        ("cast(x, int)", r#"{"x":1e30}"#, "9223372036854775807"),
        ("cast(x, int)", r#"{"x":-1e30}"#, "-9223372036854775808"),
        ("cast((0.0 / 0), int)", "{}", "0"),
        ("cast((1.0 / 0), int)", "{}", "9223372036854775807"),
        ("cast(t, int)", r#"{"t":true}"#, "1"),
        ("cast(t, int)", r#"{"t":false}"#, "0"),
        ("cast(a, int)", r#"{"a":5}"#, "5"),
        ("cast(a, bool)", r#"{"a":0}"#, "false"),
        ("cast(a, bool)", r#"{"a":5}"#, "true"),
        ("cast(a, bool)", r#"{"a":-1}"#, "true"),
        ("cast(x, bool)", r#"{"x":0.0}"#, "false"),
        ("cast(x, bool)", r#"{"x":-0.0}"#, "false"),
        ("cast(x, bool)", r#"{"x":0.5}"#, "true"),
        ("cast((0.0 / 0), bool)", "{}", "false"),
        ("cast(t, bool)", r#"{"t":false}"#, "false"),
        ("cast(null, str)", "{}", "null"),
        ("cast(null, int)", "{}", "null"),
        ("cast(a, str)", "{}", "null"),
        ("cast(j, str)", r#"{"j":[1,2]}"#, "null"),
        ("cast(j, str)", r#"{"j":{"a":1}}"#, "null"),
        ("cast(j, str)", r#"{"j":"x"}"#, "'x'"),
        ("cast(j, str)", r#"{"j":5}"#, "'5'"),
        ("cast(j, int)", r#"{"j":[1]}"#, "null"),
        ("cast(j, int)", r#"{"j":"5"}"#, "5"),
        ("cast(j, int)", r#"{"j":5.5}"#, "5"),
        ("cast(j, bool)", r#"{"j":[1]}"#, "null"),
        ("cast(j, float)", r#"{"j":{"a":1}}"#, "null"),
        ("cast(dt, int)", r#"{"dt":5}"#, "5"),
        ("cast(dt, str)", r#"{"dt":5}"#, "'5'"),
    ];
    for (src, row_json, expected) in cases {
        check(src, row_json, expected);
    }
}

#[test]
fn quadkey_cell_ids() {
    // Found by bisection against beava with `(quadkey(..) > N)` in `where` (the only place
    // beava evaluates quadkey); each id is x * 2^zoom + y (see `builtins.rs`).
    let cases = [
        ("0.0, 0.0, 1", "3"),
        ("0.0, 0.0, 2", "10"),
        ("10.0, 10.0, 1", "3"),
        ("-10.0, 10.0, 1", "2"),
        ("10.0, -10.0, 1", "1"),
        ("-10.0, -10.0, 1", "0"),
        ("10.0, 10.0, 2", "10"),
        ("10.0, 10.0, 3", "36"),
        ("10, 10, 3", "36"),
        ("47.6, -122.3, 10", "168826"),
        ("-47.6, 122.3, 12", "14086679"),
        ("33.3333, 66.6666, 16", "2942879318"),
        ("-33.3333, -66.6666, 16", "1352087977"),
        ("0.0, 0.0, 24", "140737496743936"),
        ("90.0, 180.0, 1", "5"),
        ("90.0, 180.0, 24", "281474993456599"),
        ("-90.0, -180.0, 24", "31272"),
        ("85.05112878, 179.9999, 24", "281474909570519"),
        ("85.06, 180.0, 24", "281474993456599"),
        ("-85.06, -180.0, 24", "31272"),
        ("-85.05112878, -180.0, 24", "31272"),
        ("0.0, 200.0, 4", "264"),
        ("0.0, -200.0, 4", "-8"),
        ("0.0, 540.0, 4", "520"),
        ("10.0, 1474380.123, 24", "1152921600783694362"),
        ("0.0, 1.0e300, 10", "9223372036854775807"),
        ("10.0, 1.0e300, 1", "9223372036854775807"),
        ("-10.0, -1.0e300, 1", "-9223372036854775808"),
        ("0.0, (1.0 / 0), 10", "9223372036854775807"),
        ("(0.0 / 0), 1.0, 5", "512"),
        ("(0.0 / 0), 0.0, 24", "140737488355328"),
        ("1.0, (0.0 / 0), 5", "16"),
        ("(1.0 / 0), 1.0, 5", "543"),
        ("0.0, 0.0, 0", "null"),
        ("0.0, 0.0, 25", "null"),
        ("10.0, 10.0, -1", "null"),
        ("10.0, 10.0, 3.0", "null"),
        ("10.0, 10.0, 3.5", "null"),
        ("'10', 10.0, 3", "null"),
        ("null, 10.0, 3", "null"),
        ("10.0, 10.0, null", "null"),
        ("true, 10.0, 3", "null"),
        ("1.0, 2.0, true", "null"),
    ];
    for (args, expected) in cases {
        check_where(&format!("quadkey({args})"), "{}", expected);
    }
    check_where("quadkey(x, y, a)", r#"{"x":10.0,"y":10.0,"a":3}"#, "36");
    check_where("(quadkey(x, y, 10) > 0)", r#"{"x":5.0,"y":3.0}"#, "true");
}

#[test]
fn evaluator_depth_limit() {
    // beava evaluates recursively and answers null below depth 512; long flat chains reach
    // it because they are left-leaning binary trees.
    let chain = |n: usize, op: &str, term: &str| vec![term; n].join(&format!(" {op} "));
    check(&format!("({})", chain(513, "+", "a")), r#"{"a":1}"#, "513");
    check(&format!("({})", chain(514, "+", "a")), r#"{"a":1}"#, "null");
    check(
        &format!("({})", chain(2000, "+", "a")),
        r#"{"a":1}"#,
        "null",
    );
    check(
        &format!("({})", chain(513, "and", "t")),
        r#"{"t":true}"#,
        "true",
    );
    check(
        &format!("({})", chain(514, "and", "t")),
        r#"{"t":true}"#,
        "null",
    );
    check(
        &format!("isnull(({}))", chain(512, "+", "a")),
        r#"{"a":1}"#,
        "false",
    );
    check(
        &format!("isnull(({}))", chain(513, "+", "a")),
        r#"{"a":1}"#,
        "true",
    );
    check_where(
        &format!("isnull(({}))", chain(513, "+", "a")),
        r#"{"a":1}"#,
        "true",
    );
    for n in [513, 514] {
        let row = r#"{"t":true,"f":false,"a":1}"#;
        check(
            &format!("({} and f)", chain(n - 1, "and", "t")),
            row,
            "false",
        );
        check(&format!("({} or t)", chain(n - 1, "or", "f")), row, "true");
        check(
            &format!("(a * a + {})", chain(n - 1, "+", "a")),
            row,
            "null",
        );
    }
    check(
        &format!("({} + a * a)", chain(512, "+", "a")),
        r#"{"a":1}"#,
        "513",
    );
    check(
        &format!("({} + a * a)", chain(513, "+", "a")),
        r#"{"a":1}"#,
        "null",
    );
}

#[test]
fn parse_errors() {
    let cases = [
        // Binary operators only inside parentheses.
        ("a + 1", "col 3: col 3: unexpected token \"+\""),
        (
            "not t",
            "col 1: col 1: unexpected keyword \"not\" in expression",
        ),
        (
            "isnull(a) and t",
            "col 11: col 11: unexpected token \"and\"",
        ),
        // `-` only before a number literal.
        (
            "-a",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "(-a)",
            "col 2: col 2: '-' must be followed by a number literal",
        ),
        (
            "(-x)",
            "col 2: col 2: '-' must be followed by a number literal",
        ),
        (
            "-(5)",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "-true",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "-'x'",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "--5",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "-",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "- x",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "-,",
            "col 1: col 1: '-' must be followed by a number literal",
        ),
        (
            "(a + -)",
            "col 6: col 6: '-' must be followed by a number literal",
        ),
        // Comparisons do not chain.
        ("(a > 1 > 0)", "col 8: col 8: expected ')'"),
        ("(1 < 2 == true)", "col 8: col 8: expected ')'"),
        // `not` only as `(not E)`.
        (
            "(f and not t)",
            "col 8: col 8: unexpected keyword \"not\" in expression",
        ),
        (
            "(t and not(f))",
            "col 8: col 8: unexpected keyword \"not\" in expression",
        ),
        (
            "(not not t)",
            "col 6: col 6: unexpected keyword \"not\" in expression",
        ),
        ("(not)", "col 5: col 5: unexpected token \"\" in expression"),
        (
            "not",
            "col 1: col 1: unexpected keyword \"not\" in expression",
        ),
        (
            "and",
            "col 1: col 1: unexpected keyword \"and\" in expression",
        ),
        (
            "(and)",
            "col 2: col 2: unexpected keyword \"and\" in expression",
        ),
        (
            "(or)",
            "col 2: col 2: unexpected keyword \"or\" in expression",
        ),
        (
            "(a + and)",
            "col 6: col 6: unexpected keyword \"and\" in expression",
        ),
        (
            "(a + not)",
            "col 6: col 6: unexpected keyword \"not\" in expression",
        ),
        // Missing operands: punctuation is an empty token name, end of input is different.
        ("()", "col 2: col 2: unexpected token \"\" in expression"),
        ("(,)", "col 2: col 2: unexpected token \"\" in expression"),
        (
            "(a + )",
            "col 6: col 6: unexpected token \"\" in expression",
        ),
        (
            "(a + *)",
            "col 6: col 6: unexpected token \"\" in expression",
        ),
        (
            "(a + ==)",
            "col 6: col 6: unexpected token \"\" in expression",
        ),
        (
            "(a<>1)",
            "col 4: col 4: unexpected token \"\" in expression",
        ),
        (
            "('é' + )",
            "col 9: col 9: unexpected token \"\" in expression",
        ),
        ("", "col 1: col 1: expected expression"),
        ("   ", "col 4: col 4: expected expression"),
        ("(a >", "col 5: col 5: expected expression"),
        // Unclosed or overfull parentheses.
        ("(a", "col 3: col 3: expected ')'"),
        ("((a)", "col 5: col 5: expected ')'"),
        ("(a > 1", "col 7: col 7: expected ')'"),
        ("(a, b)", "col 3: col 3: expected ')'"),
        ("(t AND f)", "col 4: col 4: expected ')'"),
        ("(t andf)", "col 4: col 4: expected ')'"),
        ("(tand f)", "col 7: col 7: expected ')'"),
        ("(a + 'x' 'y')", "col 10: col 10: expected ')'"),
        // Trailing tokens are named by their text (strings decoded).
        ("a b", "col 3: col 3: unexpected token \"b\""),
        ("(a) (b)", "col 5: col 5: unexpected token \"(\""),
        ("a)", "col 2: col 2: unexpected token \")\""),
        ("(true)and", "col 7: col 7: unexpected token \"and\""),
        ("a 5", "col 3: col 3: unexpected token \"5\""),
        ("a 'x'", "col 3: col 3: unexpected token \"x\""),
        (r"a 'it\'s'", "col 3: col 3: unexpected token \"it's\""),
        ("a 1.5", "col 3: col 3: unexpected token \"1.5\""),
        ("a ,", "col 3: col 3: unexpected token \",\""),
        ("a -", "col 3: col 3: unexpected token \"-\""),
        ("a ==", "col 3: col 3: unexpected token \"==\""),
        ("a >=", "col 3: col 3: unexpected token \">=\""),
        ("a <", "col 3: col 3: unexpected token \"<\""),
        ("a *", "col 3: col 3: unexpected token \"*\""),
        ("a /", "col 3: col 3: unexpected token \"/\""),
        ("a not", "col 3: col 3: unexpected token \"not\""),
        ("a or", "col 3: col 3: unexpected token \"or\""),
        ("a true", "col 3: col 3: unexpected token \"true\""),
        ("a null", "col 3: col 3: unexpected token \"null\""),
        ("a b.c", "col 3: col 3: unexpected token \"b.c\""),
        ("'a''b'", "col 4: col 4: unexpected token \"b\""),
        ("1a", "col 2: col 2: unexpected token \"a\""),
        ("1e5", "col 2: col 2: unexpected token \"e5\""),
        ("1_000", "col 2: col 2: unexpected token \"_000\""),
        ("1.5e3x", "col 6: col 6: unexpected token \"x\""),
        // Calls: arguments are atoms.
        (
            "isnull(a,)",
            "col 10: col 10: unexpected token \"\" in expression",
        ),
        (
            "isnull(,)",
            "col 8: col 8: unexpected token \"\" in expression",
        ),
        (
            "isnull(a,,)",
            "col 10: col 10: unexpected token \"\" in expression",
        ),
        ("isnull(a b)", "col 10: col 10: expected ',' or ')'"),
        ("isnull(a", "col 9: col 9: expected ',' or ')'"),
        ("isnull(a + 1)", "col 10: col 10: expected ',' or ')'"),
        ("isnull(a > 1 and t)", "col 10: col 10: expected ',' or ')'"),
        ("isnull(a ==)", "col 10: col 10: expected ',' or ')'"),
        (
            "isnull(not t)",
            "col 8: col 8: unexpected keyword \"not\" in expression",
        ),
        // Lexical errors.
        (
            "(a=1)",
            "col 3: col 3: unexpected character '='; use '==' for equality",
        ),
        (
            "(a > = 1)",
            "col 6: col 6: unexpected character '='; use '==' for equality",
        ),
        ("(a ! = 1)", "col 4: col 4: unexpected character '!'"),
        ("(t && f)", "col 4: col 4: unknown character '&'"),
        ("\"abc\"", "col 1: col 1: unknown character '\"'"),
        ("1.", "col 2: col 2: unknown character '.'"),
        (".5", "col 1: col 1: unknown character '.'"),
        ("a.", "col 2: col 2: unknown character '.'"),
        ("a..b", "col 2: col 2: unknown character '.'"),
        (".a", "col 1: col 1: unknown character '.'"),
        ("a.1", "col 2: col 2: unknown character '.'"),
        ("é", "col 1: col 1: unknown character 'Ã'"),
        ("(a > é)", "col 6: col 6: unknown character 'Ã'"),
        ("('é' + 'x' ^)", "col 13: col 13: unknown character '^'"),
        ("1.5e", "col 1: col 1: invalid float literal \"1.5e\""),
        ("1.5e+", "col 1: col 1: invalid float literal \"1.5e+\""),
        ("1.5ex", "col 1: col 1: invalid float literal \"1.5e\""),
        ("a 1.5e", "col 3: col 3: invalid float literal \"1.5e\""),
        (
            "99999999999999999999",
            "col 1: col 1: invalid integer literal \"99999999999999999999\"",
        ),
        (
            "9223372036854775808",
            "col 1: col 1: invalid integer literal \"9223372036854775808\"",
        ),
        (
            "-9223372036854775808",
            "col 2: col 2: invalid integer literal \"9223372036854775808\"",
        ),
        ("'abc", "col 5: col 5: unterminated string literal"),
        (r"'a\'", "col 5: col 5: unterminated string literal"),
        ("(a + 'x)", "col 9: col 9: unterminated string literal"),
        ("(a + 'x", "col 8: col 8: unterminated string literal"),
        ("(a 'x", "col 6: col 6: unterminated string literal"),
        // Lexing is lazy: nothing after the first parse error is looked at.
        ("a b ^", "col 3: col 3: unexpected token \"b\""),
        (
            "(a + ) ^",
            "col 6: col 6: unexpected token \"\" in expression",
        ),
    ];
    for (src, reason) in cases {
        check(src, "{}", &format!("error: {reason}"));
    }
    check_where(
        "(a >",
        "{}",
        "error: where predicate parse error at col 5: col 5: expected expression",
    );
}

#[test]
fn nesting_depth_limit() {
    let nested = |open: &str, n: usize, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let depth_error = |col: usize| {
        format!("error: col {col}: col {col}: predicate nesting depth exceeds 512 (got 513)")
    };
    check(&nested("(", 510, "a", ")"), r#"{"a":1}"#, "1");
    check(&nested("(", 511, "a", ")"), r#"{"a":1}"#, "1");
    check(&nested("(", 512, "a", ")"), r#"{"a":1}"#, &depth_error(513));
    check(&nested("(", 514, "a", ")"), r#"{"a":1}"#, &depth_error(513));
    check(&nested("isnull(", 511, "a", ")"), r#"{"a":1}"#, "false");
    check(
        &nested("isnull(", 512, "a", ")"),
        r#"{"a":1}"#,
        &depth_error(3585),
    );
    check(&nested("(not ", 256, "true", ")"), "{}", "true");
    check(&nested("(not ", 511, "true", ")"), "{}", "false");
    check(&nested("(not ", 512, "true", ")"), "{}", &depth_error(2561));
    check(&nested("(a + ", 257, "a", ")"), r#"{"a":1}"#, "258");
    check(
        &format!("{}isnull(a){}", "(".repeat(511), ")".repeat(511)),
        "{}",
        &depth_error(519),
    );
    check_where(
        &nested("(", 513, "a", ")"),
        "{}",
        &format!(
            "error: where predicate parse error at {}",
            &depth_error(513)["error: ".len()..]
        ),
    );
    // The token at the limit is lexed first, then the depth is checked.
    check(
        &format!("{}^", "(".repeat(512)),
        "{}",
        "error: col 513: col 513: unknown character '^'",
    );
    check(&"(".repeat(512), "{}", &depth_error(513));
    check(&"(".repeat(600), "{}", &depth_error(513));
    check(&"isnull(".repeat(600), "{}", &depth_error(3585));
    check(&format!("{}   a", "(".repeat(512)), "{}", &depth_error(516));
    check(
        &format!("{} not a", "(".repeat(511)),
        "{}",
        "error: col 518: col 518: expected ')'",
    );
    check(
        &format!("{} - 5", "isnull(".repeat(511)),
        "{}",
        "error: col 3582: col 3582: expected ',' or ')'",
    );
    // weir: far deeper input is refused the same way, without exhausting the stack, up to
    // the source length limit, which is checked first.
    check(&nested("(", 30_000, "a", ")"), "{}", &depth_error(513));
    check(
        &nested("(", 100_000, "a", ")"),
        "{}",
        "error: col 65537: col 65537: expression source exceeds 65536 bytes (got 200001)",
    );
}

#[test]
fn output_types() {
    let output_type = |src: &str| compile(src, &schema()).expect("compiles").output_type();
    assert_eq!(output_type("a"), Some(FieldType::I64));
    assert_eq!(output_type("(a + 1)"), Some(FieldType::I64));
    assert_eq!(output_type("(a / b)"), Some(FieldType::I64));
    assert_eq!(output_type("(a + x)"), Some(FieldType::F64));
    assert_eq!(output_type("(null + x)"), Some(FieldType::F64));
    assert_eq!(output_type("(a > 1)"), Some(FieldType::Bool));
    assert_eq!(output_type("(t and f)"), Some(FieldType::Bool));
    assert_eq!(output_type("isnull(a)"), Some(FieldType::Bool));
    assert_eq!(output_type("cast(a, str)"), Some(FieldType::Str));
    assert_eq!(output_type("cast(s, int)"), Some(FieldType::I64));
    assert_eq!(output_type("dt"), Some(FieldType::Datetime));
    assert_eq!(output_type("'x'"), Some(FieldType::Str));
    assert_eq!(output_type("1.5"), Some(FieldType::F64));
    assert_eq!(output_type("null"), None);
    assert_eq!(output_type("(null + null)"), None);
    assert_eq!(output_type("w"), None);
    assert_eq!(output_type("(w + 1)"), Some(FieldType::I64));
    let where_type = |src: &str| {
        compile_where(src, &schema())
            .expect("compiles")
            .output_type()
    };
    assert_eq!(where_type("(a > 1)"), Some(FieldType::Bool));
    assert_eq!(where_type("(a + s)"), None);
}

#[test]
fn field_refs_and_short_rows() {
    let compiled = compile("((s == 'x') and (a > b) and (a < 10))", &schema()).expect("compiles");
    assert_eq!(compiled.field_refs(), &[1, 2, 5]);
    assert!(compile("(1 + 2)", &schema())
        .expect("compiles")
        .field_refs()
        .is_empty());
    // Slots beyond the row read as null.
    let compiled = compile("isnull(w)", &schema()).expect("compiles");
    assert_eq!(compiled.eval(&[]), Value::Bool(true));
    let compiled = compile("(a + 1)", &schema()).expect("compiles");
    assert_eq!(compiled.eval(&[Value::Null, Value::I64(1)]), Value::I64(2));
    assert_eq!(compiled.eval(&[Value::Null]), Value::Null);
}

#[test]
fn source_length_limit() {
    let long = format!(
        "({})",
        vec!["a"; model::limits::EXPR_SOURCE_BYTES_MAX / 4].join(" + ")
    );
    assert!(long.len() <= model::limits::EXPR_SOURCE_BYTES_MAX);
    check(&long, r#"{"a":1}"#, "null");
    let too_long = format!("'{}'", "x".repeat(model::limits::EXPR_SOURCE_BYTES_MAX));
    let error = compile(&too_long, &schema()).expect_err("too long");
    assert!(error.message.contains("exceeds"), "{}", error.message);
}
