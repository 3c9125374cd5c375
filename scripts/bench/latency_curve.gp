# latency_curve.gp - latency percentiles against offered load, petrel vs mosquitto.
# Called by scripts/bench/bench_plots.py:
#     gnuplot -e "datafile='...'; outfile='...'; plottitle='...'" latency_curve.gp
# datafile: two data blocks (index 0 petrel, index 1 mosquitto), one line per point:
# offered msg/s, p50, p99, p99.9 in microseconds ('?' = no result).
set terminal pngcairo size 1000,600 noenhanced font "sans,10"
set output outfile
set title plottitle
set datafile missing "?"
set logscale xy
set format x "%.0s%c"
set format y "%.0f"
set xlabel "offered messages/s, all publishers (log scale)"
set ylabel "latency from scheduled send, microseconds (log scale; lower is better)"
set grid xtics ytics
set key top left
set offsets graph 0.05, graph 0.05, 0, 0
plot datafile index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" dt 3 title "petrel p50", \
     '' index 0 using 1:3 with linespoints lw 2 pt 7 lc rgb "#1f77b4" dt 1 title "petrel p99", \
     '' index 0 using 1:4 with linespoints lw 2 pt 7 lc rgb "#1f77b4" dt 2 title "petrel p99.9", \
     '' index 1 using 1:2 with linespoints lw 2 pt 5 lc rgb "#ff7f0e" dt 3 title "mosquitto p50", \
     '' index 1 using 1:3 with linespoints lw 2 pt 5 lc rgb "#ff7f0e" dt 1 title "mosquitto p99", \
     '' index 1 using 1:4 with linespoints lw 2 pt 5 lc rgb "#ff7f0e" dt 2 title "mosquitto p99.9"
