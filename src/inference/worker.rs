//! The inference thread: one job at a time, greedy decoding, streamed text.
//!
//! [`Worker::run`] owns the model, tokenizer and chat template and takes
//! [`Job`]s from a bounded queue until every sender is gone. For each job it
//! renders and encodes the prompt, runs it through the model in chunks,
//! then picks the most likely token (argmax) until an end-of-turn token,
//! `max_new_tokens` or the context limit. The receiver is checked before
//! every forward pass, so a dropped receiver stops the work within one token.
//! The KV cache is cleared before and after each job, so no request reads
//! another's cache.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::gguf::{GgufError, GgufModel};
use super::stream::TextStream;
use super::template::{ChatTemplate, TemplateError};
use super::tokenizer::{GgufTokenizer, TokenizerError};
use super::{
    ChatMessage, GenerationEvent, GenerationRequest, GenerationStats, InferenceError, Role,
};

/// Mask bytes that candle may cache before the weights are rebuilt to free
/// them (see the `gguf` module). Each new prompt length adds a mask of at
/// most chunk size × prompt length bytes, 1 MiB for 4,096 tokens in chunks
/// of 256, so rebuilds happen after a hundred or more distinct lengths.
const MASK_CACHE_BUDGET_BYTES: usize = 128 << 20;

/// User message of the warm-up generation: about 50 tokens in the byte-level
/// vocabularies this module supports.
const WARM_UP_MESSAGE: &str = "Hello! I ordered a blue ceramic mug and a large bowl last week. \
    The tracking page has not changed for three days. Could you tell me when the parcel will \
    arrive, and how I can return the bowl if it is broken?";

/// One queued request with the channel its reply goes to.
pub(super) struct Job {
    pub(super) request: GenerationRequest,
    pub(super) reply: mpsc::Sender<GenerationEvent>,
    /// The submitter's span, so the thread's logs carry the request's context.
    pub(super) span: tracing::Span,
    pub(super) queued_at: Instant,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum GenerateError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Model(#[from] GgufError),
    #[error("cannot build the input tensor or read the logits: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("the rendered prompt encodes to no tokens")]
    EmptyPrompt,
    #[error("prompt has {tokens} tokens but the model context holds {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
}

/// Result of a generation that did not fail.
pub(super) enum Outcome {
    Finished(GenerationStats),
    /// The receiver was dropped after `generated` tokens.
    Cancelled {
        generated: usize,
    },
}

/// Everything the inference thread owns.
pub(super) struct Worker {
    pub(super) model: GgufModel,
    pub(super) tokenizer: GgufTokenizer,
    pub(super) template: ChatTemplate,
    /// Max prompt plus reply tokens.
    pub(super) context_limit: usize,
    /// Prompt tokens per forward pass.
    pub(super) prompt_chunk_tokens: usize,
}

impl Worker {
    /// Serves jobs until the queue's senders are all dropped, or until
    /// rebuilding the weights fails.
    pub(super) fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            let reply = job.reply.clone();
            if catch_unwind(AssertUnwindSafe(|| self.serve(job))).is_err() {
                error!("generation panicked, inference thread goes on with the next request");
                let failed = GenerationEvent::Failed("generation panicked".to_owned());
                let _ = reply.blocking_send(failed);
            }

            if self.model.mask_cache_bytes() > MASK_CACHE_BUDGET_BYTES {
                match self.rebuild_model() {
                    Ok(worker) => self = worker,
                    Err(error) => {
                        error!(%error, "cannot rebuild the model weights, inference thread stops");
                        return;
                    }
                }
            }
        }
        info!("inference queue closed, inference thread stops");
    }

    fn serve(&mut self, job: Job) {
        let span = tracing::info_span!(parent: &job.span, "generation");
        let _entered = span.enter();
        let started = Instant::now();
        let queued = started - job.queued_at;

        if job.reply.is_closed() {
            info!(
                queued_ms = millis(queued),
                "generation skipped because the receiver was dropped"
            );
            return;
        }

        let event = match self.generate(&job.request, &job.reply, started) {
            Ok(Outcome::Finished(stats)) => {
                let stats = GenerationStats { queued, ..stats };
                log_finished(&stats);
                GenerationEvent::Finished(stats)
            }
            Ok(Outcome::Cancelled { generated }) => {
                info!(
                    generated,
                    "generation cancelled because the receiver was dropped"
                );
                return;
            }
            Err(GenerateError::PromptTooLong { tokens, limit }) => {
                info!(
                    tokens,
                    limit, "prompt rejected because it does not fit the context"
                );
                GenerationEvent::Rejected(InferenceError::PromptTooLong { tokens, limit })
            }
            Err(error) => {
                error!(%error, "generation failed");
                GenerationEvent::Failed(error.to_string())
            }
        };
        // A send error means the receiver is gone, so the event has no reader.
        let _ = job.reply.blocking_send(event);
    }

    /// Generates a reply to `request`, sending text deltas on `reply`.
    pub(super) fn generate(
        &mut self,
        request: &GenerationRequest,
        reply: &mpsc::Sender<GenerationEvent>,
        started: Instant,
    ) -> Result<Outcome, GenerateError> {
        let prompt = self.encode_prompt(&request.messages)?;
        if prompt.len() >= self.context_limit {
            let (tokens, limit) = (prompt.len(), self.context_limit);
            return Err(GenerateError::PromptTooLong { tokens, limit });
        }
        let max_new_tokens = request
            .max_new_tokens
            .min(self.context_limit - prompt.len());
        let mut stats = GenerationStats {
            prompt_tokens: prompt.len(),
            ..Default::default()
        };

        if max_new_tokens > 0 {
            self.model.clear_kv_cache();
            let completed = match self.prefill(&prompt, reply) {
                Ok(Some(logits)) => self.decode(
                    logits,
                    prompt.len(),
                    max_new_tokens,
                    reply,
                    started,
                    &mut stats,
                ),
                Ok(None) => Ok(false),
                Err(error) => Err(error),
            };
            self.model.clear_kv_cache();
            if !completed? {
                return Ok(Outcome::Cancelled {
                    generated: stats.generated_tokens,
                });
            }
        }
        if stats.generated_tokens == 0 {
            stats.time_to_first_token = started.elapsed();
            stats.total = stats.time_to_first_token;
        }
        Ok(Outcome::Finished(stats))
    }

    /// Runs one short generation so that the first real request does not pay
    /// for first-use costs, and returns how long it took.
    ///
    /// On x86, candle 0.11.1 repacks quantized weights on their first matrix
    /// product, into one layout for single rows and another (AMX) for
    /// batches of 32 or more rows. The warm-up prompt is therefore longer
    /// than 32 tokens, and two tokens are generated.
    pub(super) fn warm_up(&mut self) -> Result<Duration, GenerateError> {
        let started = Instant::now();
        let request = GenerationRequest {
            messages: vec![ChatMessage::new(Role::User, WARM_UP_MESSAGE)],
            max_new_tokens: 2,
        };
        // The receiver stays alive so the generation is not cancelled; the
        // capacity covers the at most two text deltas.
        let (reply, _events) = mpsc::channel(4);

        self.generate(&request, &reply, started)?;
        Ok(started.elapsed())
    }

    fn encode_prompt(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, GenerateError> {
        let cleaned: Vec<ChatMessage> = messages
            .iter()
            .map(|message| ChatMessage {
                role: message.role,
                content: self.tokenizer.remove_control_tokens(&message.content),
            })
            .collect();
        let text = self.template.render(&cleaned)?;

        let ids = self.tokenizer.encode(&text)?;
        if ids.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        Ok(ids)
    }

    /// Runs the prompt in chunks that start at multiples of the chunk size
    /// and returns the last logits, or `None` if the receiver was dropped.
    fn prefill(
        &mut self,
        prompt: &[u32],
        reply: &mpsc::Sender<GenerationEvent>,
    ) -> Result<Option<Tensor>, GenerateError> {
        let mut logits = None;
        for (index, chunk) in prompt.chunks(self.prompt_chunk_tokens).enumerate() {
            if reply.is_closed() {
                return Ok(None);
            }
            logits = Some(self.forward(chunk, index * self.prompt_chunk_tokens)?);
        }
        Ok(logits)
    }

    /// Picks tokens greedily and streams their text. Returns `false` when the
    /// receiver was dropped.
    fn decode(
        &mut self,
        mut logits: Tensor,
        mut position: usize,
        max_new_tokens: usize,
        reply: &mpsc::Sender<GenerationEvent>,
        started: Instant,
        stats: &mut GenerationStats,
    ) -> Result<bool, GenerateError> {
        let mut stream = TextStream::default();
        while stream.len() < max_new_tokens {
            if reply.is_closed() {
                return Ok(false);
            }
            let token = logits.flatten_all()?.argmax(0)?.to_scalar::<u32>()?;
            if self.tokenizer.is_stop(token) {
                break;
            }

            let delta = stream.push(&self.tokenizer, token)?;
            stats.generated_tokens = stream.len();
            stats.total = started.elapsed();
            if stream.len() == 1 {
                stats.time_to_first_token = stats.total;
            }
            if let Some(text) = delta
                && reply.blocking_send(GenerationEvent::Token(text)).is_err()
            {
                return Ok(false);
            }

            if stream.len() < max_new_tokens {
                logits = self.forward(&[token], position)?;
                position += 1;
            }
        }

        match stream.finish(&self.tokenizer)? {
            Some(text) => Ok(reply.blocking_send(GenerationEvent::Token(text)).is_ok()),
            None => Ok(true),
        }
    }

    fn forward(&mut self, tokens: &[u32], position: usize) -> Result<Tensor, GenerateError> {
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        Ok(self.model.forward(&input, position)?)
    }

    fn rebuild_model(self) -> Result<Self, GgufError> {
        let started = Instant::now();
        let mask_cache_bytes = self.model.mask_cache_bytes();
        let model = self.model.reload()?;
        let mut worker = Self { model, ..self };

        // New weights repack on first use again, so warm them up now.
        if let Err(error) = worker.warm_up() {
            warn!(%error, "warm-up after rebuilding the weights failed");
        }
        info!(
            mask_cache_bytes,
            duration_ms = millis(started.elapsed()),
            "model weights rebuilt to free candle's mask cache"
        );
        Ok(worker)
    }
}

fn log_finished(stats: &GenerationStats) {
    let decoding = stats
        .total
        .saturating_sub(stats.time_to_first_token)
        .as_secs_f64();
    let tokens_per_second = match stats.generated_tokens {
        0 | 1 => 0.0,
        generated => (generated - 1) as f64 / decoding.max(f64::EPSILON),
    };
    let tokens_per_second = (tokens_per_second * 10.0).round() / 10.0;
    info!(
        prompt_tokens = stats.prompt_tokens,
        generated_tokens = stats.generated_tokens,
        queued_ms = millis(stats.queued),
        first_token_ms = millis(stats.time_to_first_token),
        total_ms = millis(stats.total),
        tokens_per_second,
        "generation finished"
    );
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
