//! Tokenizers for retrieval, one analyzer per language.
//!
//! Word languages split at Unicode word boundaries (UAX #29), lower-case,
//! drop stop words where a list exists, drop accents from Latin letters
//! (buyers often type without them), and stem where tantivy has a stemmer. Chinese, Japanese, Korean and Thai are
//! indexed as overlapping character bigrams, because they are written
//! without spaces between words; Latin words and numbers inside such text
//! are still indexed as words.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};
use unicode_segmentation::UnicodeSegmentation;

use crate::language::detector::is_ideograph_or_kana;
use crate::language::{Language, Segmentation};

/// Longest token kept, in bytes; longer ones are noise such as base64.
const MAX_TOKEN_BYTES: usize = 60;

/// The name an analyzer is registered under in the index.
pub fn analyzer_name(language: Language) -> String {
    format!("crossdesk_{}", language.code())
}

/// Builds the analyzer for a language.
pub fn analyzer(language: Language) -> TextAnalyzer {
    match language.segmentation() {
        Segmentation::Words(stemmer) => {
            let mut builder = TextAnalyzer::builder(WordTokenizer)
                .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
                .filter(LowerCaser)
                .dynamic();
            if let Some(stop_words) = stop_words(language) {
                builder = builder.filter_dynamic(stop_words);
            }
            builder = builder.filter_dynamic(AsciiFoldingFilter);
            if let Some(stemmer) = stemmer {
                builder = builder.filter_dynamic(Stemmer::new(stemmer));
            }
            builder.build()
        }
        Segmentation::CharacterBigrams => TextAnalyzer::builder(BigramTokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .build(),
    }
}

/// Function words removed before indexing and searching, so that question
/// words ("what", "cuál") do not count as evidence that a document matches.
/// tantivy's Snowball lists where it has one; a fuller English list than
/// tantivy's, which lacks question words and pronouns.
fn stop_words(language: Language) -> Option<StopWordFilter> {
    use tantivy::tokenizer::Language as Snowball;
    let snowball = match language {
        Language::English => return Some(StopWordFilter::remove(english_stop_words())),
        Language::Spanish => Snowball::Spanish,
        Language::Portuguese => Snowball::Portuguese,
        Language::French => Snowball::French,
        Language::German => Snowball::German,
        Language::Italian => Snowball::Italian,
        Language::Dutch => Snowball::Dutch,
        Language::Russian => Snowball::Russian,
        Language::Polish
        | Language::Turkish
        | Language::Arabic
        | Language::Hebrew
        | Language::Persian
        | Language::Hindi
        | Language::Vietnamese
        | Language::Thai
        | Language::Indonesian
        | Language::Japanese
        | Language::Korean
        | Language::Chinese => return None,
    };
    StopWordFilter::new(snowball)
}

fn english_stop_words() -> Vec<String> {
    const WORDS: &str = "a an and are as at be been being but by can could did do does doing \
        for from had has have having he her here hers him his how i if in into is it its me my \
        of on or our ours please she should so some such than that the their them then there \
        these they this those to too us was we were what when where which while who whom why \
        will with would you your yours";
    WORDS.split_whitespace().map(str::to_owned).collect()
}

/// Runs a language's analyzer over `text` and returns the terms.
pub fn terms(language: Language, text: &str) -> Vec<String> {
    let mut analyzer = analyzer(language);
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while let Some(token) = stream.next() {
        terms.push(token.text.clone());
    }
    terms
}

/// Splits text at Unicode word boundaries.
#[derive(Clone, Copy, Default)]
pub struct WordTokenizer;

/// Splits dense scripts into character bigrams and everything else into words.
#[derive(Clone, Copy, Default)]
pub struct BigramTokenizer;

/// A token stream over precomputed tokens.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        push_words(text, 0, &mut tokens);
        VecTokenStream { tokens, next: 0 }
    }
}

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        let mut segment_start = 0;
        let mut dense = false;
        for (offset, c) in text.char_indices() {
            let is_dense = is_dense_script(c);
            if is_dense != dense && offset > segment_start {
                push_segment(text, segment_start, offset, dense, &mut tokens);
                segment_start = offset;
            }
            dense = is_dense;
        }
        push_segment(text, segment_start, text.len(), dense, &mut tokens);
        VecTokenStream { tokens, next: 0 }
    }
}

/// Characters of scripts written without spaces between words.
fn is_dense_script(c: char) -> bool {
    is_ideograph_or_kana(c) || matches!(c as u32, 0x0E00..=0x0E7F)
}

fn push_segment(text: &str, from: usize, to: usize, dense: bool, tokens: &mut Vec<Token>) {
    if from >= to {
        return;
    }
    if dense {
        push_bigrams(&text[from..to], from, tokens);
    } else {
        push_words(&text[from..to], from, tokens);
    }
}

fn push_words(text: &str, base: usize, tokens: &mut Vec<Token>) {
    for (offset, word) in text.unicode_word_indices() {
        push_token(tokens, base + offset, base + offset + word.len(), word);
    }
}

/// Emits every pair of adjacent characters, or the single character of a
/// one-character run, skipping Thai combining marks as pair starts.
fn push_bigrams(text: &str, base: usize, tokens: &mut Vec<Token>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    if chars.len() == 1 {
        push_token(tokens, base, base + text.len(), text);
        return;
    }
    for pair in chars.windows(2) {
        let (start, _) = pair[0];
        let (second, c) = pair[1];
        let end = second + c.len_utf8();
        push_token(tokens, base + start, base + end, &text[start..end]);
    }
}

fn push_token(tokens: &mut Vec<Token>, from: usize, to: usize, text: &str) {
    tokens.push(Token {
        offset_from: from,
        offset_to: to,
        position: tokens.len(),
        text: text.to_owned(),
        position_length: 1,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_terms_are_stemmed() {
        assert_eq!(
            terms(Language::English, "Shipping orders"),
            ["ship", "order"]
        );
    }

    #[test]
    fn spanish_variants_share_terms() {
        let expected = terms(Language::Spanish, "pedido mínimo");
        assert_eq!(terms(Language::Spanish, "Pedido MÍNIMO"), expected);
        assert_eq!(terms(Language::Spanish, "pedidos minimo"), expected);
    }

    #[test]
    fn chinese_becomes_bigrams_with_latin_words_kept() {
        let terms = terms(Language::Chinese, "最低起订量KB-HB150");
        assert_eq!(terms, ["最低", "低起", "起订", "订量", "kb", "hb150"]);
    }

    #[test]
    fn single_ideograph_is_kept() {
        assert_eq!(terms(Language::Japanese, "何 ok"), ["何", "ok"]);
    }

    #[test]
    fn thai_becomes_bigrams() {
        assert_eq!(terms(Language::Thai, "ราคา"), ["รา", "าค", "คา"]);
    }

    #[test]
    fn hindi_words_keep_combining_marks() {
        assert_eq!(terms(Language::Hindi, "न्यूनतम ऑर्डर"), ["न्यूनतम", "ऑर्डर"]);
    }
}
