#!/usr/bin/env bash
# GPU check for lokr: runs the lokr-core and lokr-dl4j tests on the CUDA backend, then one JMH
# training-step benchmark at 4096x4096, and prints the date, the GPUs and the results.
#
# Run from the repository root:   bash lokr-benchmarks/gpu-check.sh
# Budget: about 8 minutes in all (each step has its own timeout, see below).
#
# Requirements (none of them is checked in; read before using a fresh machine):
#   - JDK 17, Maven 3.8+, an NVIDIA driver (nvidia-smi) that supports CUDA 11.6 (any R510+ driver).
#   - The -Pcuda profile (root pom.xml) swaps nd4j-native for nd4j-cuda-11.6 1.0.0-M2.1, the newest
#     CUDA backend released for DL4J 1.0.0-M2.1, with classifier ${nd4j.backend.classifier} =
#     linux-x86_64 (checked on Maven Central: nd4j-cuda-11.6-1.0.0-M2.1-linux-x86_64.jar exists, ~600 MB;
#     a -cudnn variant exists too). Maven downloads it on the first run, which needs network access and
#     does not fit in the 8 minutes on a slow link: on a machine without network, copy a ~/.m2 that
#     already has it (run `mvn -B -Pcuda dependency:resolve -pl lokr-core,lokr-dl4j,lokr-benchmarks`
#     once where there is network) and set MVN_OFFLINE=1.
#   - ND4J's CUDA backend loads the CUDA 11.x runtime (libcudart.so.11.0, cuBLAS 11, cuSOLVER 11,
#     cuSPARSE 11). If the machine has no CUDA 11 toolkit, point CUDA_REDIST_JAR at
#     org.bytedeco:cuda:11.6-8.3-1.5.7:linux-x86_64-redist (~1.8 GB, in ~/.m2/repository/org/bytedeco/
#     cuda/11.6-8.3-1.5.7/ after `mvn dependency:get -Dartifact=org.bytedeco:cuda:11.6-8.3-1.5.7:jar:linux-x86_64-redist`);
#     the script adds it to the test and benchmark class paths. The script finds it there by itself.
#
# Environment (all optional):
#   MVN_OFFLINE=1        pass -o to Maven
#   CUDA_REDIST_JAR=...  the CUDA redist jar described above
#   TEST_TIMEOUT=270     seconds for the CUDA test run (the suite takes ~150 s on 2 CPU cores)
#   BUILD_TIMEOUT=60     seconds for building benchmarks.jar
#   BENCH_TIMEOUT=150    seconds for the benchmark (8 methods, one fork each, 2 + 5 one-second iterations)
# The defaults add up to 480 s, the 8-minute budget.
set -euo pipefail

TEST_TIMEOUT="${TEST_TIMEOUT:-270}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-60}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-150}"

if [[ ! -f pom.xml || ! -d lokr-benchmarks ]]; then
    echo "gpu-check: run from the repository root (where pom.xml and lokr-benchmarks/ are), not $(pwd)" >&2
    exit 2
fi
for tool in java mvn nvidia-smi timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "gpu-check: '$tool' is not on PATH; it is required" >&2
        exit 2
    fi
done

mvn_args=(-B -Pcuda)
if [[ "${MVN_OFFLINE:-0}" == "1" ]]; then
    mvn_args+=(-o)
fi

redist="${CUDA_REDIST_JAR:-}"
if [[ -z "$redist" ]]; then
    candidate="$HOME/.m2/repository/org/bytedeco/cuda/11.6-8.3-1.5.7/cuda-11.6-8.3-1.5.7-linux-x86_64-redist.jar"
    if [[ -f "$candidate" ]]; then
        redist="$candidate"
    fi
fi
if [[ -n "$redist" && ! -f "$redist" ]]; then
    echo "gpu-check: CUDA_REDIST_JAR=$redist is not a file" >&2
    exit 2
fi
if [[ -n "$redist" ]]; then
    mvn_args+=("-Dmaven.test.additionalClasspath=$redist")
elif ! ldconfig -p 2>/dev/null | grep -q 'libcudart\.so\.11'; then
    echo "gpu-check: warning: no libcudart.so.11 in the linker cache and no CUDA_REDIST_JAR;" \
         "ND4J's CUDA backend will probably fail to load (see the header of this script)" >&2
fi

section() {
    printf '\n===== %s =====\n' "$1"
}

section "date"
date -u '+%Y-%m-%dT%H:%M:%SZ'
section "GPUs"
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
section "java / maven"
# (|| true: head closes the pipe early, which pipefail would count as a failure)
{ java -version 2>&1 || true; } | head -n 1
{ mvn -B -v 2>/dev/null || true; } | head -n 1

status=0
# Only reports written by this run count in the summary (older ones may be from a CPU run).
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT

section "tests on CUDA: lokr-core, lokr-dl4j (timeout ${TEST_TIMEOUT}s)"
start=$SECONDS
if timeout "$TEST_TIMEOUT" mvn "${mvn_args[@]}" test -pl lokr-core,lokr-dl4j; then
    echo "tests: PASSED in $((SECONDS - start))s"
else
    rc=$?
    echo "tests: FAILED (exit $rc$([[ $rc == 124 ]] && echo ', timed out')) after $((SECONDS - start))s"
    status=1
fi
# A summary that survives the long Maven log.
for report in lokr-core/target/surefire-reports lokr-dl4j/target/surefire-reports; do
    if [[ -d "$report" ]]; then
        total=0; failed=0
        while IFS= read -r -d '' xml; do
            header=$(grep -m 1 -o '<testsuite [^>]*>' "$xml" || true)
            t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$header")
            f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$header")
            e=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$header")
            total=$((total + ${t:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
        done < <(find "$report" -name 'TEST-*.xml' -newer "$marker" -print0)
        echo "  $report: $total tests, $failed failed or errored"
    fi
done

section "build benchmarks.jar on CUDA (timeout ${BUILD_TIMEOUT}s)"
start=$SECONDS
if timeout "$BUILD_TIMEOUT" mvn "${mvn_args[@]}" -q package -DskipTests -pl lokr-core,lokr-dl4j,lokr-benchmarks; then
    echo "build: done in $((SECONDS - start))s"
else
    rc=$?
    echo "build: FAILED (exit $rc$([[ $rc == 124 ]] && echo ', timed out')) after $((SECONDS - start))s"
    exit 1
fi

section "TrainStepBenchmark dims=4096x4096 (timeout ${BENCH_TIMEOUT}s)"
jar=lokr-benchmarks/target/benchmarks.jar
# batch fixed and one-second iterations: with JMH's default 10 s iterations and both batch sizes the
# 8 methods would need ~19 minutes.
bench=(TrainStepBenchmark -p dims=4096x4096 -p batch=256 -f 1 -wi 2 -i 5 -w 1s -r 1s)
start=$SECONDS
# JMH's forked VM inherits the host VM's class path, so the redist jar reaches it through -cp.
if [[ -n "$redist" ]]; then
    run=(java -cp "$jar:$redist" org.openjdk.jmh.Main "${bench[@]}")
else
    run=(java -jar "$jar" "${bench[@]}")
fi
if timeout "$BENCH_TIMEOUT" "${run[@]}"; then
    echo "benchmark: done in $((SECONDS - start))s"
else
    rc=$?
    echo "benchmark: FAILED (exit $rc$([[ $rc == 124 ]] && echo ', timed out')) after $((SECONDS - start))s"
    status=1
fi

section "result"
date -u '+%Y-%m-%dT%H:%M:%SZ'
if [[ $status == 0 ]]; then
    echo "gpu-check: OK"
else
    echo "gpu-check: FAILED (see above)"
fi
exit "$status"
