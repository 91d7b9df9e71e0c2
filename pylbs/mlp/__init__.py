"""Machine-learning potential (DeepMD): training data, training, evaluation."""
