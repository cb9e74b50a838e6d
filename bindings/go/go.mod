module eddy.dev/eddy

go 1.19
