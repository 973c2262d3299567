//! Chat prompt rendering with the model's own Jinja template.
//!
//! GGUF files store the Hugging Face chat template in
//! `tokenizer.chat_template`. It is rendered with minijinja the way
//! `transformers` renders it: `trim_blocks` and `lstrip_blocks` on, Python
//! string methods through `minijinja-contrib`'s pycompat, and the context
//! variables `messages`, `add_generation_prompt = true`, `bos_token`,
//! `eos_token` and a `raise_exception` function. A file without a template
//! gets ChatML. Tool calls and other template inputs are not supported.

use minijinja::{Environment, Error, ErrorKind, context};

use super::ChatMessage;

/// ChatML, the turn format of Qwen and SmolLM, for files without a template.
const CHATML_TEMPLATE: &str = "{% for message in messages %}\
<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n\
{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const TEMPLATE_NAME: &str = "chat";

#[derive(Debug, thiserror::Error)]
pub(super) enum TemplateError {
    #[error("invalid chat template: {0}")]
    Compile(#[source] Error),
    #[error("cannot render the chat template: {0}")]
    Render(#[source] Error),
}

/// A compiled chat template with the special-token texts it may reference.
pub(super) struct ChatTemplate {
    environment: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`, or ChatML when it is `None`.
    pub(super) fn new(
        source: Option<&str>,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
    ) -> Result<Self, TemplateError> {
        let mut environment = Environment::new();
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        environment
            .set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function("raise_exception", raise_exception);

        let source = match source {
            Some(source) => source.to_owned(),
            None => {
                tracing::info!("gguf has no chat template, using chatml");
                CHATML_TEMPLATE.to_owned()
            }
        };
        environment
            .add_template_owned(TEMPLATE_NAME, source)
            .map_err(TemplateError::Compile)?;

        Ok(Self {
            environment,
            bos_token: bos_token.unwrap_or_default().to_owned(),
            eos_token: eos_token.unwrap_or_default().to_owned(),
        })
    }

    /// Renders `messages` followed by the opening of the assistant's turn.
    pub(super) fn render(&self, messages: &[ChatMessage]) -> Result<String, TemplateError> {
        let template = self
            .environment
            .get_template(TEMPLATE_NAME)
            .expect("the chat template is added under TEMPLATE_NAME in ChatTemplate::new");

        let context = context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        };
        template.render(context).map_err(TemplateError::Render)
    }
}

/// Templates call `raise_exception(message)` to reject invalid conversations.
fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::Role;
    use crate::inference::gguf;
    use crate::inference::test_models;

    fn template_from_file(path: &std::path::Path) -> ChatTemplate {
        let (_, content) = gguf::read_file(path).expect("test model header is readable");
        let source = gguf::metadata_str(&content, "tokenizer.chat_template")
            .expect("test model has a chat template");
        ChatTemplate::new(Some(source), None, None).expect("test model template compiles")
    }

    fn system_and_user() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new(Role::System, "You answer questions about orders."),
            ChatMessage::new(Role::User, "¿Dónde está mi pedido?"),
        ]
    }

    #[test]
    fn qwen_template_opens_assistant_turn() {
        let template = template_from_file(&test_models::qwen());

        let prompt = template.render(&system_and_user()).unwrap();

        assert!(
            prompt.starts_with("<|im_start|>system\n"),
            "prompt: {prompt:?}"
        );
        assert!(
            prompt.ends_with("<|im_start|>assistant\n"),
            "prompt: {prompt:?}"
        );
        assert!(prompt.contains("<|im_start|>user\n¿Dónde está mi pedido?<|im_end|>\n"));
        assert_eq!(
            prompt.matches("<|im_start|>system").count(),
            1,
            "prompt: {prompt:?}"
        );
    }

    #[test]
    fn smollm_template_adds_default_system_prompt() {
        let template = template_from_file(&test_models::smollm());
        let messages = [ChatMessage::new(Role::User, "hola")];

        let prompt = template.render(&messages).unwrap();

        assert!(
            prompt.starts_with("<|im_start|>system\n"),
            "prompt: {prompt:?}"
        );
        assert!(prompt.ends_with("<|im_start|>user\nhola<|im_end|>\n<|im_start|>assistant\n"));
    }

    #[test]
    fn missing_template_falls_back_to_chatml() {
        let template = ChatTemplate::new(None, None, None).unwrap();

        let prompt = template.render(&system_and_user()).unwrap();

        let expected = "<|im_start|>system\nYou answer questions about orders.<|im_end|>\n\
            <|im_start|>user\n¿Dónde está mi pedido?<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(prompt, expected);
    }

    #[test]
    fn template_raise_exception_is_render_error() {
        let source = "{{ raise_exception('only user messages') }}";
        let template = ChatTemplate::new(Some(source), None, None).unwrap();

        let error = template.render(&system_and_user()).unwrap_err();

        assert!(
            error.to_string().contains("only user messages"),
            "error: {error}"
        );
    }

    #[test]
    fn template_gets_python_string_methods_and_bos() {
        let source = "{{ bos_token }}{{ messages[0].content.strip().upper() }}";
        let template = ChatTemplate::new(Some(source), Some("<s>"), None).unwrap();
        let messages = [ChatMessage::new(Role::User, "  hi  ")];

        assert_eq!(template.render(&messages).unwrap(), "<s>HI");
    }
}
