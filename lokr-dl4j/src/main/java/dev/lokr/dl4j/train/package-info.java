/**
 * Training plumbing around a LoKR network: {@link dev.lokr.dl4j.train.TrainingOptions} (one immutable
 * options object), prefetching iterators ({@link dev.lokr.dl4j.train.PrefetchingDataSetIterator},
 * {@link dev.lokr.dl4j.train.PrefetchingMultiDataSetIterator}) that keep the source order while
 * preprocessing batches on worker threads, and {@link dev.lokr.dl4j.train.MemoryReport}, a byte
 * budget of a network (frozen and trainable parameters, updater state, activations).
 */
package dev.lokr.dl4j.train;
