//! Start-up: from a [`Config`] to a running [`ChatService`], each step timed
//! and logged.
//!
//! Steps: create the data folder, open and migrate the store, load the
//! sample knowledge into an empty store, build the index from the store,
//! load the language detector, then the model. A missing model file is not
//! an error: generation is turned off and the bot answers from the knowledge
//! base alone, saying so in the log and in `/health`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tracing::{info, warn};

use crate::chat::hub::Hub;
use crate::chat::texts::Texts;
use crate::chat::token::TokenSigner;
use crate::chat::{Answerer, ChatService};
use crate::config::Config;
use crate::inference::{Generator, InferenceConfig, LocalModel};
use crate::knowledge::{KnowledgeIndex, loader};
use crate::language::detector::Detector;
use crate::storage::Store;
use crate::translation::{Glossary, Translator};

/// Where the model comes from.
pub enum ModelSource {
    /// Load the file named in the configuration (unless disabled).
    FromConfig,
    /// Use a model that is already loaded (tests share one per process).
    Shared(Arc<dyn Generator>),
    /// Run without generation.
    Off,
}

/// Builds the chat service. Fails only on what the server cannot run
/// without: the data folder, the store, the index.
pub async fn build(config: Config, model: ModelSource) -> anyhow::Result<Arc<ChatService>> {
    config.validate()?;
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;

    let started = Instant::now();
    let store = Store::open(&config.database_path())
        .await
        .with_context(|| format!("cannot open store {}", config.database_path().display()))?;
    info!(path = %config.database_path().display(), elapsed_ms = ms(started), "store opened");

    load_sample_knowledge(&config, &store).await?;
    let index = build_index(&config, &store).await?;

    let started = Instant::now();
    let detector = tokio::task::spawn_blocking(Detector::new).await?;
    info!(elapsed_ms = ms(started), "language detector loaded");

    let texts = Arc::new(Texts::load()?);
    let glossary = Glossary::default();
    glossary.set(store.glossary().await?.into_iter().map(|entry| entry.term));
    let (generator, generation_off) = load_model(&config, model).await;
    let translator = generator.clone().map(|g| {
        Translator::new(
            g,
            store.clone(),
            texts.clone(),
            glossary.clone(),
            config.model.max_translation_tokens,
        )
    });
    let signer = TokenSigner::load_or_create(&config.data_dir.join("token.key"))
        .context("cannot create the token secret in the data folder")?;

    let answerer = Answerer {
        config: config.clone(),
        index: index.clone(),
        generator: generator.clone(),
        translator,
        texts: texts.clone(),
    };
    Ok(Arc::new(ChatService {
        config,
        store,
        index,
        detector: Arc::new(detector),
        generator,
        answerer,
        texts,
        hub: Arc::new(Hub::default()),
        glossary,
        signer: Arc::new(signer),
        generation_off,
    }))
}

/// Loads the configured knowledge folder when the store has no knowledge.
async fn load_sample_knowledge(config: &Config, store: &Store) -> anyhow::Result<()> {
    let counts = store.knowledge_counts().await?;
    if counts.faq_entries + counts.passages + counts.orders > 0 {
        return Ok(());
    }
    let path = config.knowledge_base.clone();
    if !path.exists() {
        warn!(path = %path.display(), "knowledge folder not found, starting with an empty store");
        return Ok(());
    }
    let started = Instant::now();
    let language = config.knowledge_language;
    let report = tokio::task::spawn_blocking(move || loader::load_paths(&[path], language)).await?;
    for error in &report.errors {
        warn!(file = %error.file, line = ?error.line, message = %error.message, "knowledge row rejected");
    }
    store
        .save_knowledge(&report.faq, &report.passages, &report.orders)
        .await?;
    info!(
        path = %config.knowledge_base.display(),
        faq_entries = report.faq.len(),
        passages = report.passages.len(),
        orders = report.orders.len(),
        rejected = report.errors.len(),
        elapsed_ms = ms(started),
        "knowledge loaded into the empty store"
    );
    Ok(())
}

/// Builds the index from the store.
pub async fn build_index(config: &Config, store: &Store) -> anyhow::Result<Arc<KnowledgeIndex>> {
    let started = Instant::now();
    let faq = store.faq_entries().await?;
    let passages = store.passages().await?;
    let root = config.index_dir();
    let index =
        tokio::task::spawn_blocking(move || KnowledgeIndex::build(&root, faq, passages)).await??;
    info!(elapsed_ms = ms(started), "index ready");
    Ok(Arc::new(index))
}

/// Loads the model, or explains why generation is off.
async fn load_model(
    config: &Config,
    source: ModelSource,
) -> (Option<Arc<dyn Generator>>, Option<String>) {
    let path = match source {
        ModelSource::Shared(generator) => return (Some(generator), None),
        ModelSource::Off => return (None, Some("generation turned off".into())),
        ModelSource::FromConfig if config.model.disabled => {
            info!("generation turned off by configuration");
            return (None, Some("generation turned off by configuration".into()));
        }
        ModelSource::FromConfig => config.model.path.clone(),
    };
    if !path.exists() {
        let reason = missing_model_reason(&path);
        warn!(path = %path.display(), "model file not found, generation is off");
        return (None, Some(reason));
    }
    let inference = InferenceConfig {
        queue_capacity: config.model.queue_capacity,
        warmup: config.model.warmup,
        ..InferenceConfig::default()
    };
    let started = Instant::now();
    let loaded = tokio::task::spawn_blocking(move || LocalModel::load(&path, &inference)).await;
    match loaded {
        Ok(Ok(model)) => {
            let timings = model.load_timings();
            info!(
                model = %model.info().name,
                load_ms = timings.load.as_millis() as u64,
                warmup_ms = timings.warmup.map(|d| d.as_millis() as u64),
                elapsed_ms = ms(started),
                "model loaded"
            );
            (Some(Arc::new(model)), None)
        }
        Ok(Err(error)) => {
            warn!(%error, "model failed to load, generation is off");
            (None, Some(error.to_string()))
        }
        Err(error) => {
            warn!(%error, "model loading panicked, generation is off");
            (None, Some("model loading panicked".into()))
        }
    }
}

fn missing_model_reason(path: &Path) -> String {
    format!(
        "model file {} not found; run `python3 models/fetch.py` or set model.path",
        path.display()
    )
}

fn ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}
