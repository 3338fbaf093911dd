"""The engine: build (recipe → model), train, evaluate, checkpoint. Prints nothing; reports through engine.report."""
