"""Integer deployment: quantization-aware training, the integer program a trained model becomes,
its NumPy simulator and its integer ONNX graph (docs/deploy.md).

- `prepare.py` folds batch norm and turns a model's synapses and neurons into their fake-quantised
  forms (`synapse.py`, `neurons/fixed_point.py`), then calibrates the scales (`steps.py`);
- `graph.py` reads the model as a graph of the operations the integer path knows, refusing the rest;
- `program.py` writes that graph out in integers, `simulator.py` runs it in NumPy, `onnx_graph.py`
  as an integer ONNX graph. The three agree with the fake-quantised PyTorch model spike for spike.
"""
