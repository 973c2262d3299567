//! [`LocalModel`]: the [`Generator`] that runs a GGUF model on this machine.
//!
//! [`LocalModel::load`] reads the model on the calling thread (the server
//! calls it from `spawn_blocking`), optionally warms it up, then moves it to
//! a named OS thread, `inference`, which owns it until the `LocalModel` is
//! dropped. [`Generator::submit`] only tries to put the request on a bounded
//! queue, so it never blocks; a full queue is [`InferenceError::Busy`].
//! Requests run one at a time in arrival order.

use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::gguf::{self, GgufModel, ModelHeader};
use super::template::ChatTemplate;
use super::tokenizer::GgufTokenizer;
use super::worker::{GenerateError, Job, Worker};
use super::{GenerationEvent, GenerationRequest, Generator, InferenceError, ModelInfo};

/// Settings of [`LocalModel::load`].
#[derive(Debug, Clone)]
pub struct InferenceConfig {
    /// Requests that may wait while one runs; more are rejected with
    /// [`InferenceError::Busy`]. 0 is treated as 1.
    pub queue_capacity: usize,
    /// Max prompt plus reply tokens; 0 means the model's context length.
    /// Larger values are capped at the model's context length.
    pub max_context_tokens: usize,
    /// Run one short generation during loading so that the first request
    /// does not pay for first-use costs.
    pub warmup: bool,
    /// Prompt tokens per forward pass. Chunks bound the attention buffers of
    /// long prompts; 0 is treated as 1.
    pub prompt_chunk_tokens: usize,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8,
            max_context_tokens: 0,
            warmup: true,
            prompt_chunk_tokens: 256,
        }
    }
}

/// Durations of the steps of [`LocalModel::load`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LoadTimings {
    /// Reading the header, building tokenizer and template, and reading the
    /// weights.
    pub load: Duration,
    /// The warm-up generation, when [`InferenceConfig::warmup`] is set.
    pub warmup: Option<Duration>,
}

/// A GGUF model served by a dedicated inference thread.
pub struct LocalModel {
    jobs: SyncSender<Job>,
    queue_capacity: usize,
    context_limit: usize,
    info: ModelInfo,
    timings: LoadTimings,
}

impl LocalModel {
    /// Loads the model at `path` and starts its inference thread. Blocks for
    /// as long as loading and warm-up take (seconds for a 1.5B model).
    pub fn load(path: impl AsRef<Path>, config: &InferenceConfig) -> Result<Self, InferenceError> {
        let path = path.as_ref();
        let load_error = |reason: String| InferenceError::Load {
            path: path.display().to_string(),
            reason,
        };

        let started = Instant::now();
        let (mut worker, header) = build_worker(path, config).map_err(load_error)?;
        let load = started.elapsed();
        info!(
            path = %path.display(),
            architecture = header.architecture.as_str(),
            name = %header.name,
            context_limit = worker.context_limit,
            load_ms = load.as_millis(),
            "model loaded"
        );

        let warmup = if config.warmup {
            warm_up(&mut worker).map_err(load_error)?
        } else {
            None
        };

        let queue_capacity = config.queue_capacity.max(1);
        let (jobs, queue) = sync_channel(queue_capacity);
        let context_limit = worker.context_limit;
        std::thread::Builder::new()
            .name("inference".to_owned())
            .spawn(move || worker.run(queue))
            .map_err(|error| load_error(format!("cannot start the inference thread: {error}")))?;

        let info = ModelInfo {
            path: path.display().to_string(),
            architecture: header.architecture.as_str().to_owned(),
            name: header.name,
            parameters_file_bytes: header.file_bytes,
            context_length: context_limit,
        };
        let timings = LoadTimings { load, warmup };
        Ok(Self {
            jobs,
            queue_capacity,
            context_limit,
            info,
            timings,
        })
    }

    /// Returns how long the steps of loading took.
    pub fn load_timings(&self) -> LoadTimings {
        self.timings
    }
}

impl Generator for LocalModel {
    fn submit(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<GenerationEvent>, InferenceError> {
        // Each event carries at least one token, so this capacity never makes
        // the inference thread wait for a slow reader.
        let event_capacity = request.max_new_tokens.min(self.context_limit) + 2;
        let (reply, events) = mpsc::channel(event_capacity);
        let job = Job {
            request,
            reply,
            span: tracing::Span::current(),
            queued_at: Instant::now(),
        };

        match self.jobs.try_send(job) {
            Ok(()) => Ok(events),
            Err(TrySendError::Full(_)) => Err(InferenceError::Busy {
                capacity: self.queue_capacity,
            }),
            Err(TrySendError::Disconnected(_)) => Err(InferenceError::Stopped),
        }
    }

    fn info(&self) -> ModelInfo {
        self.info.clone()
    }
}

/// Runs the warm-up generation and returns its duration, or `None` when the
/// context is too small for the warm-up prompt.
fn warm_up(worker: &mut Worker) -> Result<Option<Duration>, String> {
    match worker.warm_up() {
        Ok(duration) => {
            info!(warmup_ms = duration.as_millis(), "model warmed up");
            Ok(Some(duration))
        }
        Err(GenerateError::PromptTooLong { tokens, limit }) => {
            warn!(
                tokens,
                limit, "context too small for the warm-up prompt, warm-up skipped"
            );
            Ok(None)
        }
        Err(error) => Err(format!("warm-up failed: {error}")),
    }
}

/// Reads the GGUF file and builds everything the inference thread owns.
fn build_worker(path: &Path, config: &InferenceConfig) -> Result<(Worker, ModelHeader), String> {
    let (file, content) = gguf::read_file(path).map_err(|error| error.to_string())?;
    let file_bytes = file.metadata().map_err(|error| error.to_string())?.len();
    let header =
        gguf::read_header(&content, path, file_bytes).map_err(|error| error.to_string())?;

    let tokenizer = GgufTokenizer::from_gguf(&content).map_err(|error| error.to_string())?;
    let template_source = gguf::metadata_str(&content, "tokenizer.chat_template").ok();
    let template = ChatTemplate::new(template_source, tokenizer.bos_text(), tokenizer.eos_text())
        .map_err(|error| error.to_string())?;

    let model = GgufModel::load(file, content, header.architecture, path)
        .map_err(|error| error.to_string())?;

    let context_limit = match config.max_context_tokens {
        0 => header.context_length,
        configured => configured.min(header.context_length),
    };
    let worker = Worker {
        model,
        tokenizer,
        template,
        context_limit,
        prompt_chunk_tokens: config.prompt_chunk_tokens.max(1),
    };
    Ok((worker, header))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use candle_core::quantized::gguf_file::{self, Value};

    use super::*;
    use crate::inference::test_models;
    use crate::inference::{ChatMessage, GenerationStats, Role};

    const QUESTION: &str = "What is the capital of France?";

    /// Returns the SmolLM2 model shared by tests that need no special settings.
    fn shared_model() -> &'static LocalModel {
        static MODEL: OnceLock<LocalModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            LocalModel::load(test_models::smollm(), &InferenceConfig::default())
                .expect("SmolLM2 loads")
        })
    }

    fn request(question: &str, max_new_tokens: usize) -> GenerationRequest {
        GenerationRequest {
            messages: vec![
                ChatMessage::new(Role::System, "You are a concise assistant."),
                ChatMessage::new(Role::User, question),
            ],
            max_new_tokens,
        }
    }

    /// Reads events until the final one and returns the text with that event.
    fn collect(mut events: mpsc::Receiver<GenerationEvent>) -> (String, GenerationEvent) {
        let mut text = String::new();
        while let Some(event) = events.blocking_recv() {
            match event {
                GenerationEvent::Token(delta) => text.push_str(&delta),
                last => return (text, last),
            }
        }
        panic!("event channel closed without a final event; text so far: {text:?}");
    }

    fn finished_reply(model: &LocalModel, question: &str) -> (String, GenerationStats) {
        let events = model
            .submit(request(question, 16))
            .expect("queue accepts the request");
        match collect(events) {
            (text, GenerationEvent::Finished(stats)) => (text, stats),
            (_, other) => panic!("expected Finished, got {other:?}"),
        }
    }

    #[test]
    fn greedy_reply_is_nonempty_and_repeatable() {
        let model = shared_model();

        let (first, stats) = finished_reply(model, QUESTION);
        let (other, _) = finished_reply(model, "Name one colour of the rainbow.");
        let (second, _) = finished_reply(model, QUESTION);

        assert!(
            model.load_timings().warmup.is_some(),
            "warm-up runs by default"
        );
        assert!(!first.trim().is_empty(), "reply: {first:?}");
        assert_eq!(
            first, second,
            "the same prompt after another one gives the same reply"
        );
        assert_ne!(first, other);
        assert!(stats.prompt_tokens > 10, "stats: {stats:?}");
        assert!(
            (1..=16).contains(&stats.generated_tokens),
            "stats: {stats:?}"
        );
        assert!(stats.time_to_first_token <= stats.total, "stats: {stats:?}");
    }

    #[test]
    fn dropped_receiver_cancels_and_thread_serves_next() {
        let model = shared_model();
        let mut events = model.submit(request(QUESTION, 64)).unwrap();

        let first = events.blocking_recv();
        assert!(
            matches!(first, Some(GenerationEvent::Token(_))),
            "first event: {first:?}"
        );
        drop(events);

        let (text, stats) = finished_reply(model, QUESTION);
        assert!(!text.is_empty());
        assert!(stats.generated_tokens > 0, "stats: {stats:?}");
    }

    #[test]
    fn full_queue_returns_busy() {
        let config = InferenceConfig {
            queue_capacity: 1,
            warmup: false,
            ..InferenceConfig::default()
        };
        let model = LocalModel::load(test_models::smollm(), &config).unwrap();

        let results: Vec<_> = (0..5)
            .map(|_| model.submit(request(QUESTION, 16)))
            .collect();

        let busy = results
            .iter()
            .filter(|result| matches!(result, Err(InferenceError::Busy { capacity: 1 })))
            .count();
        assert!(
            busy >= 3,
            "one request runs and one waits, so at least 3 of 5 are busy"
        );
        assert!(results[0].is_ok(), "the first request is accepted");
    }

    #[test]
    fn prompt_longer_than_context_is_rejected() {
        let config = InferenceConfig {
            max_context_tokens: 64,
            warmup: false,
            ..InferenceConfig::default()
        };
        let model = LocalModel::load(test_models::smollm(), &config).unwrap();
        let long_question = "Please tell me where my parcel is. ".repeat(20);

        let events = model.submit(request(&long_question, 16)).unwrap();

        match collect(events) {
            (text, GenerationEvent::Rejected(InferenceError::PromptTooLong { tokens, limit })) => {
                assert!(text.is_empty());
                assert!(tokens > 64, "tokens: {tokens}");
                assert_eq!(limit, 64);
            }
            (_, other) => panic!("expected PromptTooLong, got {other:?}"),
        }
    }

    #[test]
    fn reply_stops_at_context_limit() {
        let (_, reference) = finished_reply(shared_model(), QUESTION);
        let limit = reference.prompt_tokens + 3;
        let config = InferenceConfig {
            max_context_tokens: limit,
            warmup: true,
            ..InferenceConfig::default()
        };
        let model = LocalModel::load(test_models::smollm(), &config).unwrap();

        let (_, stats) = finished_reply(&model, QUESTION);

        assert_eq!(
            model.load_timings().warmup,
            None,
            "the warm-up prompt does not fit"
        );
        assert_eq!(model.info().context_length, limit);
        assert_eq!(stats.prompt_tokens, reference.prompt_tokens);
        assert!(stats.generated_tokens <= 3, "stats: {stats:?}");
    }

    #[test]
    fn unsupported_architecture_is_load_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let architecture = Value::String("gemma".to_owned());
        let metadata = [("general.architecture", &architecture)];
        gguf_file::write(&mut file.as_file(), &metadata, &[]).unwrap();

        let result = LocalModel::load(file.path(), &InferenceConfig::default());

        match result {
            Err(InferenceError::Load { path, reason }) => {
                assert_eq!(path, file.path().display().to_string());
                assert!(reason.contains("\"gemma\""), "reason: {reason}");
                assert!(reason.contains("qwen2, llama"), "reason: {reason}");
            }
            Err(other) => panic!("expected a load error, got {other:?}"),
            Ok(_) => panic!("expected a load error, got a model"),
        }
    }

    #[test]
    fn non_gguf_file_is_load_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"not a gguf file").unwrap();

        let result = LocalModel::load(file.path(), &InferenceConfig::default());

        let error = result.err().expect("loading a text file fails");
        assert!(
            matches!(error, InferenceError::Load { .. }),
            "error: {error:?}"
        );
    }
}
