fn main() {
    println!("factory: under construction");
}
