#!/bin/busybox sh
# fountain agent initramfs: mount the kernel filesystems, load the node's modules, run the agent, and
# switch_root into a stateless node's image when the agent prepared one.
/bin/busybox mkdir -p /proc /sys /dev /run /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mkdir -p /dev/pts /dev/shm /run/lvm /run/mdadm
/bin/busybox mount -t devpts devpts /dev/pts
/bin/busybox --install -s
# The planner's plan and every command the executor runs, with its output, go to the console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root FOUNTAIN_LOG=warn,agent=info
echo "fountain: initramfs up, loading modules"
while read -r module; do
    insmod "$module" 2>/dev/null || echo "fountain: insmod $module failed"
done < /etc/fountain/modules
ip link set lo up
# Without console= on the command line the kernel's console is the screen; copy the agent's lines to
# the first serial port too, where most servers' consoles (and every test VM's) are read.
if grep -q 'console=' /proc/cmdline || [ ! -c /dev/ttyS0 ]; then
    fountain agent
else
    fountain agent 2>&1 | tee /dev/ttyS0
fi
status=$?
# A stateless boot leaves a note naming the prepared root and its init (agent/src/stateless/handoff.rs):
# switch_root must be PID 1, which this script is and the agent is not. The kernel filesystems move
# along; switch_root then empties the initramfs and execs the image's init.
if [ -f /run/fountain/switch-root ]; then
    { read -r newroot; read -r newinit; } < /run/fountain/switch-root
    rm -f /run/fountain/switch-root
    for fs in /dev /proc /sys; do
        mount -o move "$fs" "$newroot$fs" || echo "fountain: moving $fs into $newroot failed"
    done
    echo "fountain: switching root to $newroot, starting $newinit"
    exec switch_root "$newroot" "$newinit"
fi
echo "fountain: agent finished (status $status); shell on the console"
while true; do
    setsid cttyhack sh
done
