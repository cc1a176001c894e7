// Package heads holds the trainable parts of busam that sit on top of the
// frozen SAM image encoder: a mask decoder (a light convolutional head, kind
// "conv", or a UNet-like decoder with skip features from a small stem on the
// image, kind "unet") and a classifier that pools features under the
// predicted mask (mask-guided attention). Neck is SAM's neck as a
// trainable module, for fine-tuning it with the heads on cached trunk
// features (Model.BackwardEmbedding feeds it its gradient).
//
// Every layer has a forward and a backward pass in float32 on top of the
// model/cpu kernels, so the same code trains (package train) and predicts
// (package pipeline). Layers keep no per-call state: a forward pass returns
// what its backward pass needs, so goroutines can run the samples of a
// mini-batch side by side over one set of weights. The data flow is
// written once, in Infer: inference runs it on a Backend (host tensors
// here, WebGPU in model/webgpu/samheads), and training runs it on a
// recording CPU backend (record.go) whose Tape feeds Model.Backward, with
// dropout and a fixed (teacher-forced) attention as its hooks. The neck
// takes its names, shapes and epsilons from encoder.NeckLayout.
package heads
