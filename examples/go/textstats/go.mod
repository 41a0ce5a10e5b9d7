module textstats

go 1.24
