"""`iter8 demo`: a sample app in two versions, user traffic that follows the split, a canary."""
