//! Shared config tokenizer: tokens with `file:line:col` spans, collected errors.
