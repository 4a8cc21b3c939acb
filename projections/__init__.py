"""The read side: answers for any valid time T and record time K, as folds over events."""
