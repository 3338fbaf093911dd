"""Integer deployment: quantization-aware training, the integer program a trained model becomes,
its NumPy simulator and its integer ONNX graph (docs/deploy.md).

- `prepare.py` folds batch norm and turns a model's synapses and neurons into their fake-quantised
  forms (`synapse.py`, `neurons/fixed_point.py`), then calibrates the steps (`steps.py`);
- `graph.py` reads the model as a graph of the operations the integer path knows, refusing the rest;
- `program.py` writes that graph out in integers, `bundle.py` stores it, `simulator.py` runs it in
  NumPy (`simulated_model.py` behind a model's interface), `onnx_graph.py` as an integer ONNX
  graph. All agree with the fake-quantised PyTorch model spike for spike.
"""
