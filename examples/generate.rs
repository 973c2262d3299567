//! Measures a GGUF model on this machine: load and warm-up time, prompt and
//! generation speed, and memory use.
//!
//! Usage: `cargo run --example generate -- MODEL.gguf [CHUNK_TOKENS] [REPEATS]`
//!
//! It sends one prompt of about 200 tokens and requests 64 new tokens. The
//! prompt rate is prompt tokens over the time to first token, and the
//! generation rate is tokens after the first over the time after it. Memory
//! is the resident set size from `/proc/self/status`. `CHUNK_TOKENS` sets
//! `InferenceConfig::prompt_chunk_tokens` (default 256), and `REPEATS`
//! repeats the customer's question to make a longer prompt (default 1).

#![allow(
    clippy::print_stdout,
    reason = "printing the measurements is this example's job"
)]

use std::time::Instant;

use anyhow::{Context, bail};
use crossdesk::inference::{
    ChatMessage, GenerationEvent, GenerationRequest, Generator, InferenceConfig, LocalModel, Role,
};

const NEW_TOKENS: usize = 64;

const SYSTEM_PROMPT: &str = "You are the customer-service assistant of a small online shop \
that sells handmade ceramics: mugs, bowls, plates and vases. Orders ship from Valencia within \
two working days. Shipping inside the European Union takes three to five working days and costs \
six euros, free above sixty euros. Customers may return unused items within thirty days for a \
full refund; the shop pays return shipping only when an item arrives broken. Broken items must \
be reported with a photo within seven days of delivery. Answer in the customer's language, \
politely and precisely, and never invent order details you were not given.";

const QUESTION: &str = "Hello! I ordered two blue mugs and a large serving bowl last Tuesday, \
order number 10482. The tracking page has not changed for four days and one mug in the photo \
the courier sent looks cracked. What should I do, and can you explain in detail how returns \
and refunds work for broken items? Please answer with a numbered list of at least eight steps.";

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let mut arguments = std::env::args().skip(1);
    let Some(path) = arguments.next() else {
        bail!("usage: generate MODEL.gguf [CHUNK_TOKENS] [REPEATS]");
    };
    let mut config = InferenceConfig::default();
    if let Some(chunk) = arguments.next() {
        config.prompt_chunk_tokens = chunk.parse().context("CHUNK_TOKENS must be a number")?;
    }
    let repeats = match arguments.next() {
        Some(repeats) => repeats.parse().context("REPEATS must be a number")?,
        None => 1,
    };

    let started = Instant::now();
    let model = LocalModel::load(&path, &config)?;
    let timings = model.load_timings();
    println!("model: {:?}", model.info());
    println!("load: {:.2} s", timings.load.as_secs_f64());
    if let Some(warmup) = timings.warmup {
        println!("warmup: {:.2} s", warmup.as_secs_f64());
    }
    println!("load with warmup: {:.2} s", started.elapsed().as_secs_f64());

    measure_reply(&model, &QUESTION.repeat(repeats))?;
    print_memory()?;
    Ok(())
}

fn measure_reply(model: &LocalModel, question: &str) -> anyhow::Result<()> {
    let request = GenerationRequest {
        messages: vec![
            ChatMessage::new(Role::System, SYSTEM_PROMPT),
            ChatMessage::new(Role::User, question),
        ],
        max_new_tokens: NEW_TOKENS,
    };
    let mut events = model.submit(request)?;

    let mut reply = String::new();
    let stats = loop {
        match events.blocking_recv() {
            Some(GenerationEvent::Token(delta)) => reply.push_str(&delta),
            Some(GenerationEvent::Finished(stats)) => break stats,
            Some(other) => bail!("generation did not finish: {other:?}"),
            None => bail!("the inference thread closed the channel"),
        }
    };

    let first_token = stats.time_to_first_token.as_secs_f64();
    let decoding = (stats.total - stats.time_to_first_token).as_secs_f64();
    println!("reply: {reply:?}");
    println!("prompt: {} tokens", stats.prompt_tokens);
    println!("time to first token: {:.2} s", first_token);
    println!(
        "prompt rate: {:.1} tokens/s",
        stats.prompt_tokens as f64 / first_token
    );
    println!(
        "generation: {} tokens, {:.1} tokens/s after the first",
        stats.generated_tokens,
        stats.generated_tokens.saturating_sub(1) as f64 / decoding
    );
    Ok(())
}

fn print_memory() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc")?;
    for line in status.lines() {
        if line.starts_with("VmRSS:") || line.starts_with("VmHWM:") {
            println!("{}", line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    Ok(())
}
