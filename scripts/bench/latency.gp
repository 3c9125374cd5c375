# latency.gp - grouped bars of the latency percentiles, petrel vs mosquitto.
# Called by scripts/bench/bench_plots.py:
#     gnuplot -e "datafile='...'; outfile='...'; plottitle='...'" latency.gp
# datafile: one line per percentile: "p50" petrel mosquitto, in microseconds
# ('?' = no result).
set terminal pngcairo size 900,560 noenhanced font "sans,10"
set output outfile
set title plottitle
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0f"
set ylabel "latency, microseconds (log scale; lower is better)"
set xtics nomirror
set ytics nomirror
set grid ytics
set key top left
set offsets 0, 0, graph 0.08, 0
plot datafile using 2:xtic(1) title "petrel" lc rgb "#1f77b4", \
     '' using 3 title "mosquitto" lc rgb "#ff7f0e", \
     '' using ($0 - 1.0/6):2:(sprintf("%.0f", $2)) with labels offset 0,0.7 font ",9" notitle, \
     '' using ($0 + 1.0/6):3:(sprintf("%.0f", $3)) with labels offset 0,0.7 font ",9" notitle
