package dev.lokr.dl4j.train;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Runs an action to completion once per object, compared by identity, however many threads meet the object: the
 * prefetching iterators' preprocessor, which works in place. A thread that meets an object whose action
 * another thread is still running waits until it has ended, so the object is never used half-done: a
 * source such as {@code ExistingDataSetIterator} hands out the same batch objects again after a
 * {@code reset()}, possibly while a worker of the cut-short epoch is still preprocessing one of them.
 * Objects done are held weakly ({@link WeakIdentitySet}); thread-safe.
 *
 * @param <T> the object type
 */
final class OncePerObject<T> {
    private final WeakIdentitySet<T> done = new WeakIdentitySet<>();
    /** Objects whose action is running now, held only while it runs. Guarded by this. */
    private final Map<T, Thread> running = new IdentityHashMap<>();

    /**
     * Runs {@code action} on {@code object} unless it already ran to completion on this object, first
     * waiting for the action running on it in another thread, if any. An action that threw counts as not
     * run: the next call runs it again.
     *
     * @param object the object
     * @param action what to do once per object
     * @throws IllegalStateException if the thread is interrupted while it waits (its interrupt status is
     *     kept)
     */
    void run(T object, Consumer<? super T> action) {
        Objects.requireNonNull(object, "object");
        synchronized (this) {
            while (running.containsKey(object)) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(
                            "interrupted while waiting for another thread to finish preprocessing the same batch object",
                            e);
                }
            }
            if (done.contains(object)) {
                return;
            }
            running.put(object, Thread.currentThread());
        }
        boolean completed = false;
        try {
            action.accept(object);
            completed = true;
        } finally {
            synchronized (this) {
                running.remove(object);
                if (completed) {
                    done.add(object);   // an action that threw runs again when the object comes back
                }
                notifyAll();
            }
        }
    }
}
