use expr::{compile, compile_where, parse};
use model::{Column, FieldType, RowSchema, Value};
use std::mem::ManuallyDrop;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let step = args[1].clone();
    let kb: usize = args[2].parse().unwrap();
    let shape = args[3].clone();
    let schema = RowSchema { columns: vec![
        Column { name: "a".into(), ty: Some(FieldType::I64), optional: true },
        Column { name: "t".into(), ty: Some(FieldType::Bool), optional: true }] };
    let src = if shape == "calls" { format!("{}a{}", "isnull(".repeat(511), ")".repeat(511)) } else {
        let mut src = String::from("a"); for _ in 0..511 { src = format!("(not t or t and 1 + 2 * {src} > 0)"); } src };
    let src = ManuallyDrop::new(src);
    let expr = ManuallyDrop::new(parse(&src).unwrap());
    let compiled = ManuallyDrop::new(compile_where(&src, &schema).unwrap());
    std::thread::Builder::new().stack_size(kb * 1024).spawn(move || {
        match step.as_str() {
            "parse" => { let e = parse(&src).unwrap(); std::mem::forget(e); }
            "clone" => { let c = (*expr).clone(); std::mem::forget(c); }
            "eq" => { assert!(*expr == *expr); }
            "debug" => { let _ = format!("{:?}", *expr); }
            "display" => { let _ = expr.to_string(); }
            "drop" => { drop(ManuallyDrop::into_inner(expr)); }
            "compile" => { let _ = compile(&src, &schema); }
            "where" => { let c = compile_where(&src, &schema).unwrap(); std::mem::forget(c); }
            "eval" => { let _ = compiled.eval(&[Value::I64(1), Value::Bool(true)]); }
            _ => panic!(),
        }
    }).unwrap().join().unwrap();
    println!("ok");
}
