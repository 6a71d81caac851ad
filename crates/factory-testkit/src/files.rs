//! Definition files and sources.

use std::path::Path;

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) {
    let parent = path.parent().expect("a file path has a parent");
    fs_err::create_dir_all(parent).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A `command` component with its source in `src/NAME`, one command, output `out.txt`.
pub fn command_component(name: &str, deps: &[String], command: &str) -> String {
    let requires: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    // JSON string syntax is valid TOML basic-string syntax: quotes and backslashes escaped.
    let command = serde_json::to_string(command).unwrap();
    format!(
        "[component.{name}]\nkind = \"command\"\nsource = {{ path = \"src/{name}\" }}\nbuild-requires = [{}]\ncommands = [{command}]\noutputs = [\"out.txt\"]\n\n",
        requires.join(", "),
    )
}
