# throughput.gp - grouped bars of delivered messages/s per row, petrel vs mosquitto.
# Called by scripts/bench/bench_plots.py:
#     gnuplot -e "datafile='...'; outfile='...'; plottitle='...'" throughput.gp
# datafile: one line per row: "row" petrel mosquitto petrel/mosquitto ('?' = no
# result). The ratio is printed above each pair of bars.
set terminal pngcairo size 1200,640 noenhanced font "sans,10"
set output outfile
set title plottitle
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set yrange [*:*]
set ylabel "delivered messages/s (log scale)"
set xtics rotate by -25 nomirror
set ytics nomirror
set grid ytics
set key top right
set offsets 0, 0, graph 0.12, 0
set bmargin 6
# Bar centres of a 2-column cluster with gap 1: x -/+ 1/6.
plot datafile using 2:xtic(1) title "petrel" lc rgb "#1f77b4", \
     '' using 3 title "mosquitto" lc rgb "#ff7f0e", \
     '' using ($0 - 1.0/6):2:(sprintf("%.0fk", $2 / 1000)) with labels offset 0,0.7 font ",8" notitle, \
     '' using ($0 + 1.0/6):3:(sprintf("%.0fk", $3 / 1000)) with labels offset 0,0.7 font ",8" notitle, \
     '' using 0:(($2 > $3 ? $2 : $3) * 2.2):(sprintf("%.2fx", $4)) with labels font ",10:Bold" notitle
