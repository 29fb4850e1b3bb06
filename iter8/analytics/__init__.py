"""The analyze function's core: from observations to assessments, a winner, weights and a decision."""
