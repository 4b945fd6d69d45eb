"""The `redact:` section of a pipeline config (the steps are in `curation.redact`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from curation.schema import StrictModel

# detect-secrets plugin class -> its module under `detect_secrets.plugins` (the library is imported
# only where redaction runs; the names are validated here, when the config is read).
DETECT_SECRETS_PLUGINS = {
    "AWSKeyDetector": "aws", "AzureStorageKeyDetector": "azure_storage_key", "GitHubTokenDetector": "github_token",
    "GitLabTokenDetector": "gitlab_token", "SlackDetector": "slack", "StripeDetector": "stripe",
    "JwtTokenDetector": "jwt", "SendGridDetector": "sendgrid", "OpenAIDetector": "openai",
    "PypiTokenDetector": "pypi_token", "NpmDetector": "npm", "SquareOAuthDetector": "square_oauth",
    "TwilioKeyDetector": "twilio", "MailchimpDetector": "mailchimp", "DiscordBotTokenDetector": "discord",
    "TelegramBotTokenDetector": "telegram_token", "ArtifactoryDetector": "artifactory",
    "CloudantDetector": "cloudant", "IbmCloudIamDetector": "ibm_cloud_iam", "IbmCosHmacDetector": "ibm_cos_hmac",
    "SoftlayerDetector": "softlayer",
}
# The token formats searched by default; the ones left out and why: curation/redact/plugins.py.
DEFAULT_PLUGINS = (
    "AWSKeyDetector", "AzureStorageKeyDetector", "GitHubTokenDetector", "GitLabTokenDetector", "SlackDetector",
    "StripeDetector", "JwtTokenDetector", "SendGridDetector", "OpenAIDetector", "PypiTokenDetector", "NpmDetector",
    "SquareOAuthDetector", "TwilioKeyDetector", "MailchimpDetector", "DiscordBotTokenDetector",
    "TelegramBotTokenDetector",
)


class RedactConfig(StrictModel):
    """Secrets and personal data replaced by typed placeholders (`<KEY>`, `<PASSWORD>`, `<EMAIL>`, ...)."""

    enabled: bool = True
    secrets: bool = Field(True, description="private keys, cloud/VCS/SaaS tokens, passwords in URLs, connection "
                                            "strings and assignments")
    emails: bool = True
    ip_addresses: bool = Field(True, description="public addresses outside tests and documentation examples")
    plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_PLUGINS),
                               description="detect-secrets plugin classes whose token formats are searched")
    max_secrets: int | None = Field(
        None, ge=0, description="drop a document with more secrets (keys + passwords + private keys) than this to "
                                "removed/redact/: a file that is mostly credentials is not worth its redacted "
                                "remains; null keeps every document")
    fields: list[str] = Field(default_factory=lambda: ["statement", "patch", "test_patch"],
                              description="string metadata redacted with the text when a document has it (SWE "
                                          "tasks carry the statement and patches beside the rendered text)")

    @field_validator("plugins")
    @classmethod
    def _known_plugins(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(DETECT_SECRETS_PLUGINS))
        if unknown:
            raise ValueError(f"unknown detect-secrets plugin(s) {unknown}; known: {sorted(DETECT_SECRETS_PLUGINS)}")
        return names
