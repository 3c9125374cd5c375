# conn_1m.gp - the broker's RSS and the connect rate against connections established,
# from petrel-bench's per-second series of the memif-conn row. Called by
# scripts/bench/bench_memif.py:
#     gnuplot -e "datafile='...'; outfile='...'; plottitle='...'" conn_1m.gp
# datafile: "t conns rss_MB conn_rate" per sample ('?' = not read).
set terminal pngcairo size 1000,560 noenhanced font "sans,10"
set output outfile
set title plottitle
set datafile missing "?"
set xlabel "connections established"
set ylabel "broker RSS (MB)"
set y2label "connects/s (last second)"
set format x "%.3s%c"
set format y2 "%.0f"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key top left
plot datafile using 2:3 with linespoints pt 7 ps 0.5 lc rgb "#1f77b4" title "broker RSS (MB)", \
     '' using 2:4 axes x1y2 with linespoints pt 5 ps 0.5 lc rgb "#ff7f0e" title "connects/s"
