/**
 * Gradient checkpointing for DL4J networks: {@link dev.lokr.dl4j.checkpoint.CheckpointedTrainer} runs one
 * training step that keeps only the inputs of layer segments during the forward pass and recomputes the
 * segments' inner activations during the backward pass, replaying dropout masks so that gradients equal
 * the non-checkpointed ones. {@link dev.lokr.dl4j.checkpoint.Segmentation} says where segments start.
 */
package dev.lokr.dl4j.checkpoint;
