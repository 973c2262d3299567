//! Incremental detokenization for streaming replies.
//!
//! A byte-level BPE token can end inside a multi-byte UTF-8 character, so the
//! text of one token is not always valid on its own. [`TextStream`] decodes
//! all ids generated so far and releases only the new suffix, and holds it
//! back while it ends in U+FFFD (an incomplete character). Concatenating the
//! deltas gives the decoding of the whole reply. Decoding everything again
//! per token costs time linear in the reply length, which is small next to a
//! forward pass for replies of a few hundred tokens.

use super::tokenizer::{GgufTokenizer, TokenizerError};

/// Generated ids and how much of their text has been released.
#[derive(Debug, Default)]
pub(super) struct TextStream {
    ids: Vec<u32>,
    /// Byte length of the decoded text already returned as deltas.
    released_bytes: usize,
}

impl TextStream {
    /// Number of ids pushed so far.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds `id` and returns the text that became complete, if any.
    pub(super) fn push(
        &mut self,
        tokenizer: &GgufTokenizer,
        id: u32,
    ) -> Result<Option<String>, TokenizerError> {
        self.ids.push(id);
        let text = tokenizer.decode(&self.ids)?;
        if text.ends_with(char::REPLACEMENT_CHARACTER) {
            return Ok(None);
        }
        Ok(self.release(&text))
    }

    /// Returns the text still held back, even if it ends in U+FFFD.
    pub(super) fn finish(
        &mut self,
        tokenizer: &GgufTokenizer,
    ) -> Result<Option<String>, TokenizerError> {
        let text = tokenizer.decode(&self.ids)?;
        Ok(self.release(&text))
    }

    fn release(&mut self, text: &str) -> Option<String> {
        // Earlier text is a prefix of the new text, because appending bytes
        // can only change a trailing incomplete character. `get` still
        // checks the boundary.
        let delta = text.get(self.released_bytes..)?;
        if delta.is_empty() {
            return None;
        }
        self.released_bytes = text.len();
        Some(delta.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::gguf;
    use crate::inference::test_models;

    fn smollm_tokenizer() -> GgufTokenizer {
        let (_, content) = gguf::read_file(&test_models::smollm()).unwrap();
        GgufTokenizer::from_gguf(&content).unwrap()
    }

    #[test]
    fn stream_never_releases_broken_characters() {
        let tokenizer = smollm_tokenizer();
        let text = "Pedido nº 42 ✓ — مرحبا 你好世界 こんにちは 😀👍🏽";
        let ids = tokenizer.encode(text).unwrap();
        let mut stream = TextStream::default();

        let mut deltas = Vec::new();
        for id in ids {
            deltas.extend(stream.push(&tokenizer, id).unwrap());
        }
        deltas.extend(stream.finish(&tokenizer).unwrap());

        assert!(
            deltas
                .iter()
                .all(|delta| !delta.contains(char::REPLACEMENT_CHARACTER))
        );
        assert!(deltas.len() > 1, "deltas: {deltas:?}");
        assert_eq!(deltas.concat(), text);
    }

    #[test]
    fn stream_finish_releases_incomplete_tail() {
        let tokenizer = smollm_tokenizer();
        // "Ã" is the byte-level spelling of 0xC3, the first byte of "é".
        let lead_byte_id = tokenizer
            .token_to_id("Ã")
            .expect("vocabulary holds every byte");
        let mut stream = TextStream::default();

        let held = stream.push(&tokenizer, lead_byte_id).unwrap();
        let tail = stream.finish(&tokenizer).unwrap();

        assert_eq!(held, None);
        assert_eq!(tail.as_deref(), Some("\u{FFFD}"));
    }
}
