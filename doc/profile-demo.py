import json, collections, os, signal, re
d = [dict(a=i, b=str(i)*8, c=[i]*4) for i in range(200000)]
s = json.dumps(d[:50000])
words = re.findall(r'\w+', s)
x = collections.Counter(words)
os.kill(os.getpid(), signal.SIGUSR2)   # mymalloc writes a heap profile now
print(len(s), len(x))
