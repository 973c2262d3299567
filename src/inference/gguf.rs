//! GGUF model files: header metadata and the quantized candle transformer.
//!
//! [`read_file`] parses the header (metadata and tensor index) without
//! loading weights, so the tokenizer and chat template can be built from the
//! same metadata first. [`GgufModel`] then owns the weights of a `qwen2` or
//! `llama` architecture and returns the logits of the last input position.
//!
//! Each request must start with [`GgufModel::clear_kv_cache`]. candle 0.11.1
//! also overwrites the KV cache when a forward pass starts at position 0, but
//! clearing it explicitly frees the memory between requests.
//!
//! candle 0.11.1 caches one causal mask per `(sequence length, key length)`
//! pair in each model and never evicts one, so the cache grows with every new
//! prompt length. The model counts the bytes of the masks it has caused and
//! [`GgufModel::reload`] rebuilds the weights, which empties that cache.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};

/// Architectures this module can build, as spelled in `general.architecture`.
const SUPPORTED_ARCHITECTURES: &str = "qwen2, llama";

#[derive(Debug, thiserror::Error)]
pub(super) enum GgufError {
    #[error("cannot open the file: {0}")]
    Open(#[source] std::io::Error),
    #[error("invalid GGUF header: {0}")]
    Header(#[source] candle_core::Error),
    #[error("metadata key {key} is missing")]
    MissingMetadata { key: String },
    #[error("metadata key {key} is invalid: {reason}")]
    InvalidMetadata { key: String, reason: String },
    #[error(
        "architecture {0:?} is not supported; supported architectures: {SUPPORTED_ARCHITECTURES}"
    )]
    UnsupportedArchitecture(String),
    #[error("cannot build the model weights: {0}")]
    Weights(#[source] candle_core::Error),
    #[error("forward pass failed: {0}")]
    Forward(#[source] candle_core::Error),
}

/// A transformer family that candle implements for GGUF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Architecture {
    Qwen2,
    Llama,
}

impl Architecture {
    fn from_name(name: &str) -> Result<Self, GgufError> {
        match name {
            "qwen2" => Ok(Self::Qwen2),
            "llama" => Ok(Self::Llama),
            other => Err(GgufError::UnsupportedArchitecture(other.to_owned())),
        }
    }

    /// Name as written in `general.architecture` and in metadata key prefixes.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Qwen2 => "qwen2",
            Self::Llama => "llama",
        }
    }
}

/// Facts about a model read from the GGUF header.
#[derive(Debug, Clone)]
pub(super) struct ModelHeader {
    pub(super) architecture: Architecture,
    /// `general.name`, or the file stem when the key is missing.
    pub(super) name: String,
    /// Positions the model can attend to: `<arch>.context_length`, capped for
    /// `llama` at the rotary-embedding table size of candle's implementation.
    pub(super) context_length: usize,
    pub(super) file_bytes: u64,
}

/// Opens a GGUF file and parses its header, leaving the weights unread.
pub(super) fn read_file(path: &Path) -> Result<(File, Content), GgufError> {
    let file = File::open(path).map_err(GgufError::Open)?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader).map_err(GgufError::Header)?;

    Ok((reader.into_inner(), content))
}

/// Reads the architecture, name and context length from parsed metadata.
pub(super) fn read_header(
    content: &Content,
    path: &Path,
    file_bytes: u64,
) -> Result<ModelHeader, GgufError> {
    let architecture = Architecture::from_name(metadata_str(content, "general.architecture")?)?;

    let name = match metadata_str(content, "general.name") {
        Ok(name) => name.to_owned(),
        Err(_) => path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    };

    let key = format!("{}.context_length", architecture.as_str());
    let mut context_length = metadata_usize(content, &key)?;
    if architecture == Architecture::Llama {
        // quantized_llama precomputes rotary embeddings for MAX_SEQ_LEN
        // positions only, so later positions would fail in the forward pass.
        context_length = context_length.min(quantized_llama::MAX_SEQ_LEN);
    }

    Ok(ModelHeader {
        architecture,
        name,
        context_length,
        file_bytes,
    })
}

/// Returns the metadata value stored under `key`.
pub(super) fn metadata<'a>(content: &'a Content, key: &str) -> Result<&'a Value, GgufError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| GgufError::MissingMetadata {
            key: key.to_owned(),
        })
}

/// Returns the string stored under `key`.
pub(super) fn metadata_str<'a>(content: &'a Content, key: &str) -> Result<&'a str, GgufError> {
    let value = metadata(content, key)?;
    value
        .to_string()
        .map(String::as_str)
        .map_err(|error| invalid(key, error))
}

/// Returns the unsigned integer stored under `key`, whatever its width.
pub(super) fn metadata_usize(content: &Content, key: &str) -> Result<usize, GgufError> {
    let value = match metadata(content, key)? {
        Value::I32(signed) => u64::try_from(*signed).map_err(|error| invalid(key, error))?,
        other => other.to_u64().map_err(|error| invalid(key, error))?,
    };
    usize::try_from(value).map_err(|error| invalid(key, error))
}

/// Returns the array stored under `key`.
pub(super) fn metadata_array<'a>(
    content: &'a Content,
    key: &str,
) -> Result<&'a [Value], GgufError> {
    let value = metadata(content, key)?;
    value
        .to_vec()
        .map(Vec::as_slice)
        .map_err(|error| invalid(key, error))
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> GgufError {
    GgufError::InvalidMetadata {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

enum Weights {
    Qwen2(quantized_qwen2::ModelWeights),
    Llama(quantized_llama::ModelWeights),
}

impl Weights {
    fn read(
        architecture: Architecture,
        content: Content,
        reader: &mut BufReader<File>,
    ) -> Result<Self, GgufError> {
        let device = Device::Cpu;
        let weights = match architecture {
            Architecture::Qwen2 => {
                quantized_qwen2::ModelWeights::from_gguf(content, reader, &device).map(Self::Qwen2)
            }
            Architecture::Llama => {
                quantized_llama::ModelWeights::from_gguf(content, reader, &device).map(Self::Llama)
            }
        };
        weights.map_err(GgufError::Weights)
    }
}

/// Quantized transformer weights with their KV cache, on the CPU.
pub(super) struct GgufModel {
    weights: Weights,
    architecture: Architecture,
    /// Kept open so that [`GgufModel::reload`] reads the same file even if
    /// the path has been replaced since.
    file: File,
    path: PathBuf,
    /// `(sequence length, key length)` pairs of the masks candle has cached.
    mask_shapes: HashSet<(usize, usize)>,
    mask_cache_bytes: usize,
}

impl GgufModel {
    /// Reads the weights that `content` indexes from `file`.
    pub(super) fn load(
        file: File,
        content: Content,
        architecture: Architecture,
        path: &Path,
    ) -> Result<Self, GgufError> {
        let mut reader = BufReader::new(file);
        let weights = Weights::read(architecture, content, &mut reader)?;

        Ok(Self {
            weights,
            architecture,
            file: reader.into_inner(),
            path: path.to_owned(),
            mask_shapes: HashSet::new(),
            mask_cache_bytes: 0,
        })
    }

    /// Runs `input` (shape `[1, tokens]`) at positions starting at `index_pos`
    /// and returns the logits of its last position, shape `[1, vocabulary]`.
    pub(super) fn forward(
        &mut self,
        input: &Tensor,
        index_pos: usize,
    ) -> Result<Tensor, GgufError> {
        let sequence_length = input.dim(1).map_err(GgufError::Forward)?;
        // candle builds no mask for a single position.
        if sequence_length > 1 {
            let key_length = index_pos + sequence_length;
            if self.mask_shapes.insert((sequence_length, key_length)) {
                self.mask_cache_bytes += sequence_length * key_length;
            }
        }

        let logits = match &mut self.weights {
            Weights::Qwen2(model) => model.forward(input, index_pos),
            Weights::Llama(model) => model.forward(input, index_pos),
        };
        logits.map_err(GgufError::Forward)
    }

    /// Drops the cached keys and values of every layer.
    pub(super) fn clear_kv_cache(&mut self) {
        match &mut self.weights {
            Weights::Qwen2(model) => model.clear_kv_cache(),
            Weights::Llama(model) => model.clear_kv_cache(),
        }
    }

    /// Bytes held by the causal masks that candle has cached (one byte per
    /// mask element).
    pub(super) fn mask_cache_bytes(&self) -> usize {
        self.mask_cache_bytes
    }

    /// Rebuilds the weights from the open file, which empties candle's mask
    /// cache. The old weights are dropped first so that memory use does not
    /// double, so on error no model is left.
    pub(super) fn reload(self) -> Result<Self, GgufError> {
        let Self {
            weights,
            architecture,
            mut file,
            path,
            ..
        } = self;
        drop(weights);

        file.seek(SeekFrom::Start(0)).map_err(GgufError::Open)?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(GgufError::Header)?;

        Self::load(reader.into_inner(), content, architecture, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::test_models;

    fn load_smollm() -> GgufModel {
        let path = test_models::smollm();
        let (file, content) = read_file(&path).unwrap();
        GgufModel::load(file, content, Architecture::Llama, &path).unwrap()
    }

    fn prompt() -> Tensor {
        Tensor::new(&[1u32, 4093, 198, 19556, 30], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap()
    }

    #[test]
    fn smollm_header_caps_llama_context() {
        let path = test_models::smollm();
        let (_, content) = read_file(&path).unwrap();

        let header = read_header(&content, &path, 0).unwrap();

        assert_eq!(header.architecture, Architecture::Llama);
        assert_eq!(header.name, "Smollm2 135M 8k Lc100K Mix1 Ep2");
        assert_eq!(
            header.context_length,
            quantized_llama::MAX_SEQ_LEN,
            "8192 in the file"
        );
    }

    #[test]
    fn forward_returns_last_position_logits() {
        let mut model = load_smollm();

        let logits = model.forward(&prompt(), 0).unwrap();

        assert_eq!(logits.dims(), [1, 49_152]);
        assert_eq!(model.mask_cache_bytes(), 5 * 5);
    }

    #[test]
    fn reload_empties_mask_cache_and_keeps_weights() {
        let mut model = load_smollm();
        let before = model
            .forward(&prompt(), 0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();

        let mut model = model.reload().unwrap();
        let after = model
            .forward(&prompt(), 0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();

        assert_eq!(before, after);
        assert_eq!(
            model.mask_cache_bytes(),
            5 * 5,
            "only the mask of the second forward"
        );
    }
}
