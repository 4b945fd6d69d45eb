"""Text for the non-code 30%: offline prose readers (sources), pipeline text inputs (inputs),
routing by classifier scores into the mixture's text sources (route), and chunking (chunks).
It imports nothing of curation.quality: the classifiers' training data is quality/text_corpus.py."""
