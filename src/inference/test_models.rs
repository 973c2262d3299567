//! Paths of the real GGUF models that the inference tests run.
//!
//! A missing file fails the test with the command that downloads it, so a
//! checkout without models never passes these tests by skipping them.

use std::path::PathBuf;

/// SmolLM2 135M Instruct, Q4_1: `llama` architecture, `smollm` pre-tokenizer.
pub(super) fn smollm() -> PathBuf {
    model_path("smollm2-135m-instruct-q4_1.gguf", "smollm2-135m-instruct")
}

/// Qwen2.5 Coder 1.5B Instruct, Q4_K_M: `qwen2` architecture and
/// pre-tokenizer, the server's default model.
pub(super) fn qwen() -> PathBuf {
    model_path(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "qwen2.5-coder-1.5b-instruct",
    )
}

fn model_path(file_name: &str, fetch_name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file_name);
    assert!(
        path.is_file(),
        "model file {} is missing; run `python3 models/fetch.py {fetch_name}` from the crate root",
        path.display()
    );
    path
}
