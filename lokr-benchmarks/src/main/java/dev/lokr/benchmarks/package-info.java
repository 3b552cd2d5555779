/**
 * JMH benchmarks and a memory table for LoKR training steps, merges and conv layers on ND4J.
 *
 * <p>The step classes ({@link dev.lokr.benchmarks.DenseStep}, {@link dev.lokr.benchmarks.ConvStep})
 * hold preallocated inputs and outputs and compute one training step (forward, then backward to the
 * input and to every trainable tensor) in several ways; the JMH classes
 * ({@link dev.lokr.benchmarks.TrainStepBenchmark}, {@link dev.lokr.benchmarks.ConvStepBenchmark},
 * {@link dev.lokr.benchmarks.MergeBenchmark}) only time them, and the tests check that the ways
 * agree. {@link dev.lokr.benchmarks.MemoryTable} prints trainable, optimizer and per-step bytes.
 *
 * <p>Run with {@code java -jar lokr-benchmarks/target/benchmarks.jar TrainStepBenchmark -p dims=4096x4096}.
 */
package dev.lokr.benchmarks;
