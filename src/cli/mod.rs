//! The `d-back` command's own parts, beside `main.rs` and outside the
//! library: the configuration keys, the `--config` file, `config check` /
//! `config example`, the `health` probe, and the token read from a mounted secret file. They
//! import the library's public API only, so a program embedding d-back
//! gets none of them and the library never depends on the command line.

pub(crate) mod check;
pub(crate) mod file;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod token_file;
