"""A3 (assessment): the seven IQA databases, scoring from log-likelihoods, conversion, published rows."""
