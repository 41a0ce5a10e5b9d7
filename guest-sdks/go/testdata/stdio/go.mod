module stdio

go 1.24
