"""The tokenize step: every kind of document to exact ids (plain text and code with FIM, repository
chunks, SWE tasks with their section markers, conversations with their loss masks). It sits above
the kinds it encodes; `curation.tokenize` is the tokenizer itself and FIM, below them all."""
