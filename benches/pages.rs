mod common;
fn main() {
    println!("todo {}", common::quick());
}
