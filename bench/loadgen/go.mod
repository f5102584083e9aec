module appyard/bench/loadgen

go 1.26
