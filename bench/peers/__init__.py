"""Peers run side by side with seqcli: the scripts here run in bench-only virtual
environments (bench/envs/, built by `make bench-env`), never in seqcli's own."""
