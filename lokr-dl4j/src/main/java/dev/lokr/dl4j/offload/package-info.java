/**
 * Frozen-encoder offload: the leading layers of a network that have nothing to train (the "encoder") are
 * run once over the data by {@link dev.lokr.dl4j.offload.EncoderOffload#prepare}, their outputs are kept in
 * a {@link dev.lokr.dl4j.offload.FeatureCache} (in memory or in a file), and only the
 * trainable rest of the network (the "head") trains on the cached features. With no data augmentation the
 * scores and final weights equal those of training the whole network.
 */
package dev.lokr.dl4j.offload;
