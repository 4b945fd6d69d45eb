"""Text for the non-code 30%: offline prose readers (sources), pipeline text inputs (inputs),
routing by classifier scores into the mixture's text sources (route), and the math classifier's
training data (math)."""
