module transform

go 1.24
