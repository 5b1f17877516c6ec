// The sandbox (pause) program of the single-node cluster; no dependencies.
module daskburst.dev/cluster/pause

go 1.24
