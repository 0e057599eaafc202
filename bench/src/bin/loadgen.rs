//! The load generator's command line; everything is in `d_back_bench::loadgen`.

fn main() {
    d_back_bench::loadgen::main();
}
